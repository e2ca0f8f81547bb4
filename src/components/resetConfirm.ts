import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import { RESET_CONFIRMATION } from '@jupyterlab-gpu-workspace/api';
import type { ResetStatusResponse } from '@jupyterlab-gpu-workspace/api';

/**
 * The dialog's body: what a reset does, and the field the user types the
 * confirmation into. The dialog's Reset button is enabled only while the
 * field holds exactly "Reset data", and Enter does nothing until then.
 */
export class ConfirmBody extends Widget {
  private readonly input: HTMLInputElement;

  constructor(trans: TranslationBundle, status: ResetStatusResponse) {
    super();
    this.addClass('jp-gpu-workspace-reset-body');
    const p = (text: string): HTMLParagraphElement => {
      const node = document.createElement('p');
      node.textContent = text;
      return node;
    };
    const source =
      status.template === 'operator'
        ? trans.__('Every file in your home folder will be replaced by a clean copy of the workspace as your course or team set it up.')
        : trans.__('Every file in your home folder will be replaced by a clean copy of the home as it was when this workspace first started.');
    const steps = trans.__(
      'Open documents are saved first. Kernels and terminals are stopped, so variables in memory are lost, and the page reloads when it is done.'
    );
    const undo = trans.__(
      'A snapshot of your home folder is taken first: you can undo the reset right after it, or later from Snapshots (the snapshot marked "pre-reset").'
    );
    const label = document.createElement('label');
    label.className = 'jp-gpu-workspace-reset-label';
    label.textContent = trans.__('Type "%1" to confirm:', RESET_CONFIRMATION);
    this.input = document.createElement('input');
    this.input.type = 'text';
    this.input.className = 'jp-mod-styled jp-gpu-workspace-reset-input';
    this.input.autocomplete = 'off';
    this.input.spellcheck = false;
    this.input.setAttribute('aria-label', label.textContent);
    this.input.addEventListener('input', () => this.updateButton());
    label.append(this.input);
    const parts = [p(source), p(steps), p(undo)];
    if (status.post_reset_hook) {
      parts.push(p(trans.__('Then a set-up script of your workspace runs in the clean home.')));
    }
    this.node.append(...parts, label);
  }

  /** Exactly the confirmation: no other case, no spaces around it. */
  get confirmed(): boolean {
    return this.input.value === RESET_CONFIRMATION;
  }

  getValue(): string {
    return this.input.value;
  }

  protected onAfterAttach(): void {
    // The dialog turns Enter into its default button before any handler of ours sees it, so Enter
    // is stopped at the window (capture runs there first) while the text is not the confirmation.
    window.addEventListener('keydown', this.guardEnter, true);
    this.updateButton();
  }

  protected onBeforeDetach(): void {
    window.removeEventListener('keydown', this.guardEnter, true);
  }

  private readonly guardEnter = (event: KeyboardEvent): void => {
    if (event.key === 'Enter' && event.target === this.input && !this.confirmed) {
      event.preventDefault();
      event.stopPropagation();
    }
  };

  private updateButton(): void {
    const button = this.node.closest('.jp-Dialog')?.querySelector<HTMLButtonElement>('.jp-Dialog-footer .jp-mod-warn');
    if (button) {
      button.disabled = !this.confirmed;
    }
  }
}
