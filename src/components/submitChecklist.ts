import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import type { SubmitChecklist, SubmitDestinationInfo, SubmitPhase } from '@jupyterlab-gpu-workspace/api';
import { formatBytes } from '../format';
import { SubmitClient } from '../api/submit';
import { button as makeButton, el } from '../dom';

/** While the checklist dialog is open, it looks at the home again this often (files may be saved meanwhile). */
const CHECKLIST_POLL_MS = 3000;
/** While a submission runs, its phase is asked for this often. */
export const PHASE_POLL_MS = 1500;
/** How often a running hook's latest line may change the notification. */
export const HOOK_LINE_MS = 300;

export const button = (label: string, onClick: () => void, className = 'jp-gpu-workspace-submit-button'): HTMLButtonElement => makeButton(label, onClick, className);

/** "✓ Present" / "✗ Missing": a mark and a word, never colour alone. */
export function mark(ok: boolean, yes: string, no: string): HTMLSpanElement {
  const span = el('span', 'jp-gpu-workspace-submit-mark', `${ok ? '✓' : '✗'} ${ok ? yes : no}`);
  span.dataset.ok = String(ok);
  return span;
}

export function destinationText(d: SubmitDestinationInfo, trans: TranslationBundle): string {
  switch (d.type) {
    case 'directory':
      return trans.__('the exchange folder %1', d.where);
    case 'http':
      return trans.__('%1 (upload)', d.where);
    case 'command':
      return trans.__("the operator's command %1", d.where);
  }
}

export function phaseText(phase: SubmitPhase, trans: TranslationBundle): string {
  switch (phase) {
    case 'checking':
      return trans.__('Submitting: checking the files…');
    case 'converting':
      return trans.__('Submitting: running the conversions…');
    case 'archiving':
      return trans.__('Submitting: building the archive…');
    case 'snapshot':
      return trans.__('Submitting: taking a snapshot of your home folder…');
    case 'delivering':
      return trans.__('Submitting: delivering the archive…');
  }
}

/**
 * The checklist in the Submit dialog: each required file present or
 * missing, what is left out and why, the conversions that will run, and the
 * total size against the limit. It tells its owner whether Submit may be
 * pressed.
 */
export class ChecklistBody extends Widget {
  checklist: SubmitChecklist | null = null;
  private readonly content = el('div', 'jp-gpu-workspace-submit-checklist');
  private readonly status = el('p', 'jp-gpu-workspace-submit-status');
  private timer: number | null = null;
  private loading: Promise<void> | null = null;

  constructor(
    private readonly client: SubmitClient,
    private readonly trans: TranslationBundle,
    private readonly onReady: (ready: boolean) => void
  ) {
    super();
    this.addClass('jp-gpu-workspace-submit-dialog');
    this.status.setAttribute('role', 'status');
    this.status.setAttribute('aria-live', 'polite');
    const again = button(trans.__('Check again'), () => void this.refresh());
    this.node.append(this.status, this.content, again);
    this.status.textContent = trans.__('Checking your files…');
  }

  refresh(): Promise<void> {
    this.loading ??= (async () => {
      try {
        this.checklist = await this.client.checklist();
        this.render(this.checklist);
      } catch (err) {
        this.checklist = null;
        this.status.textContent = (err as Error).message;
        this.onReady(false);
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }

  startPolling(): void {
    this.timer = window.setInterval(() => {
      if (document.visibilityState === 'visible') {
        void this.refresh();
      }
    }, CHECKLIST_POLL_MS);
  }

  private render(c: SubmitChecklist): void {
    const t = this.trans;
    this.node.dataset.ready = String(c.ready);
    this.status.textContent = c.ready ? t.__('Everything required is here. Submit when you are ready.') : (c.reason ?? t.__('Not ready to submit.'));
    const parts: HTMLElement[] = [];

    parts.push(el('h3', undefined, t.__('Required files')));
    const items = el('ul', 'jp-gpu-workspace-submit-items');
    for (const item of c.items) {
      const li = el('li', 'jp-gpu-workspace-submit-item');
      li.dataset.path = item.path;
      li.dataset.present = String(item.present);
      li.append(mark(item.present, t.__('Present'), t.__('Missing')), el('code', undefined, item.path));
      const isPattern = item.files.length !== 1 || item.files[0].path !== item.path;
      if (item.files.length && isPattern) {
        const details = el('details');
        details.append(el('summary', undefined, t._n('%1 file', '%1 files', item.files.length)));
        const files = el('ul');
        for (const f of item.files) {
          files.append(el('li', undefined, `${f.path} — ${formatBytes(f.bytes)}`));
        }
        details.append(files);
        li.append(details);
      }
      for (const s of item.skipped) {
        li.append(el('div', 'jp-gpu-workspace-submit-skipped', t.__('⚠ Left out: %1 — %2', s.path, s.reason)));
      }
      items.append(li);
    }
    parts.push(items);

    if (c.conversions.length) {
      parts.push(el('h3', undefined, t.__('Conversions that will run')));
      const conversions = el('ul', 'jp-gpu-workspace-submit-conversions');
      for (const conv of c.conversions) {
        const li = el('li', 'jp-gpu-workspace-submit-conversion');
        li.dataset.ready = String(conv.ready);
        li.append(
          mark(conv.ready, t.__('Will run'), t.__('Nothing to convert')),
          el('span', undefined, conv.ready ? conv.sources.map((s, i) => `${s} → ${conv.outputs[i]}`).join(', ') : t.__('%1 → %2', conv.from, conv.to.toUpperCase()))
        );
        conversions.append(li);
      }
      parts.push(conversions);
    }

    const size = el('p', 'jp-gpu-workspace-submit-size', t.__('Total size: %1 of the %2 limit (%3).', formatBytes(c.total_bytes), formatBytes(c.max_bytes), t._n('%1 file', '%1 files', c.file_count)));
    size.dataset.over = String(c.total_bytes > c.max_bytes);
    const bar = el('progress', 'jp-gpu-workspace-submit-size-bar');
    bar.max = c.max_bytes;
    bar.value = Math.min(c.total_bytes, c.max_bytes);
    bar.setAttribute('aria-label', size.textContent ?? '');
    parts.push(size, bar);
    if (c.destination) {
      parts.push(el('p', 'jp-gpu-workspace-submit-destination', t.__('Goes to %1. A snapshot of your home folder is taken first.', destinationText(c.destination, t))));
    }
    this.content.replaceChildren(...parts);
    this.onReady(c.ready && c.running === null);
  }

  dispose(): void {
    if (this.timer !== null) {
      window.clearInterval(this.timer);
    }
    super.dispose();
  }
}
