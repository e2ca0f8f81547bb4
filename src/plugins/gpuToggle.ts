import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Dialog, ICommandPalette, IToolbarWidgetRegistry, showDialog } from '@jupyterlab/apputils';
import { ITranslator, nullTranslator, TranslationBundle } from '@jupyterlab/translation';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';
import { Widget } from '@lumino/widgets';
import { formatDuration } from '../format';
import { restartWithProgress, WorkspaceRestarter } from '../restart';
import { IGpuProfile, IWorkspaceModel, IWorkspaceRestarter } from '../tokens';

export const GpuCommandIDs = {
  toggle: 'gpu-workspace:toggle-gpu'
} as const;

/** Why GPU mode cannot be turned on now, or null when it can. */
export function enableRefusal(model: IWorkspaceModel, trans: TranslationBundle): string | null {
  const status = model.status;
  if (!status) {
    return trans.__('The workspace service has not answered yet.');
  }
  if (!status.gpu.available) {
    return status.gpu.reason ?? trans.__('This machine has no GPU.');
  }
  if (status.quota.remaining_seconds <= 0) {
    return status.quota.next_reset
      ? trans.__('No GPU hours left in this period. They reset %1.', new Date(status.quota.next_reset).toLocaleString())
      : trans.__('No GPU hours left. Ask your administrator for more.');
  }
  return null;
}

/** The profile picker shown in the confirmation when the operator configured more than one profile. */
class ProfilePicker extends Widget {
  private readonly select = document.createElement('select');

  constructor(message: string, profiles: IGpuProfile[], current: string | null, trans: TranslationBundle) {
    super();
    const text = document.createElement('p');
    text.textContent = message;
    this.node.append(text);
    if (profiles.length > 1) {
      const label = document.createElement('label');
      label.textContent = trans.__('GPU profile: ');
      this.select.className = 'jp-mod-styled';
      for (const p of profiles) {
        const option = document.createElement('option');
        option.value = p.name;
        option.textContent = trans.__('%1 (%2× hours per hour)', p.label, p.weight);
        option.selected = p.name === current;
        this.select.append(option);
      }
      label.append(this.select);
      this.node.append(label);
    }
  }

  getValue(): string | undefined {
    return this.select.value || undefined;
  }
}

/** The top-bar button: Enable GPU / Disable GPU / Switching…, disabled with the reason as its tooltip. */
class GpuToggleButton extends Widget {
  private readonly button = document.createElement('button');

  constructor(
    private readonly app: JupyterFrontEnd,
    private readonly model: IWorkspaceModel
  ) {
    super();
    this.addClass('jp-gpu-workspace-toggle');
    this.button.type = 'button';
    this.button.className = 'jp-gpu-workspace-toggle-button';
    this.button.addEventListener('click', () => void app.commands.execute(GpuCommandIDs.toggle));
    this.node.append(this.button);
    model.changed.connect(this.render, this);
    app.commands.commandChanged.connect(this.render, this);
    this.render();
  }

  private render(): void {
    const commands = this.app.commands;
    const gpu = this.model.status?.gpu;
    this.button.textContent = commands.label(GpuCommandIDs.toggle);
    this.button.disabled = !commands.isEnabled(GpuCommandIDs.toggle);
    this.button.title = commands.caption(GpuCommandIDs.toggle);
    this.button.setAttribute('aria-label', commands.label(GpuCommandIDs.toggle));
    this.node.dataset.mode = gpu?.mode ?? 'unknown';
  }

  dispose(): void {
    this.model.changed.disconnect(this.render, this);
    this.app.commands.commandChanged.disconnect(this.render, this);
    super.dispose();
  }
}

/**
 * GPU mode on and off: a command (palette, Workspace menu, key-bindable) and a
 * top-bar button. Switching saves everything, asks for confirmation (kernels
 * restart), restarts the server in the new mode and gives notebooks fresh kernels.
 */
export const gpuTogglePlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-gpu-workspace:gpu-toggle',
  description: 'The Enable GPU / Disable GPU command and top-bar button.',
  autoStart: true,
  requires: [IWorkspaceModel, IWorkspaceRestarter],
  optional: [IToolbarWidgetRegistry, ICommandPalette, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    model: IWorkspaceModel,
    restarter: WorkspaceRestarter,
    toolbarRegistry: IToolbarWidgetRegistry | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null
  ) => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_gpu_workspace');
    const isOn = (): boolean => model.status?.gpu.mode === 'on';
    const switching = (): boolean => model.status?.gpu.mode === 'switching' || restarter.isRunning;

    app.commands.addCommand(GpuCommandIDs.toggle, {
      label: args => {
        if (switching()) {
          return trans.__('Switching…');
        }
        if (args.enabled === true) {
          return trans.__('Enable GPU');
        }
        if (args.enabled === false) {
          return trans.__('Disable GPU');
        }
        return isOn() ? trans.__('Disable GPU') : trans.__('Enable GPU');
      },
      caption: () => {
        if (switching()) {
          return trans.__('The workspace is switching GPU mode.');
        }
        if (isOn()) {
          return trans.__('Switch to CPU mode: saves your documents, restarts kernels, stops charging GPU hours.');
        }
        return enableRefusal(model, trans) ?? trans.__('Switch to GPU mode: saves your documents and restarts kernels with the GPU visible.');
      },
      isEnabled: args => {
        if (switching() || !model.status) {
          return false;
        }
        const enable = typeof args.enabled === 'boolean' ? args.enabled : !isOn();
        return enable ? enableRefusal(model, trans) === null : isOn();
      },
      execute: async (args: ReadonlyPartialJSONObject) => {
        const status = model.status;
        if (!status) {
          return null;
        }
        const enable = typeof args.enabled === 'boolean' ? args.enabled : !isOn();
        let profile = typeof args.profile === 'string' ? args.profile : undefined;
        if (args.confirm !== false) {
          const left = formatDuration(status.quota.remaining_seconds, trans);
          const message = enable
            ? trans.__(
                'The Jupyter server restarts with the GPU visible. Your documents are saved first; kernels restart, so variables in memory are lost. GPU time is charged from now until you disable GPU mode (%1 left).',
                left
              )
            : trans.__(
                'The Jupyter server restarts without the GPU. Your documents are saved first; kernels restart, so variables in memory are lost. GPU hours stop being charged.'
              );
          const body = new ProfilePicker(message, enable ? status.gpu.profiles : [], status.gpu.profile, trans);
          const answer = await showDialog({
            title: enable ? trans.__('Enable GPU mode?') : trans.__('Disable GPU mode?'),
            body,
            buttons: [
              Dialog.cancelButton({ label: trans.__('Cancel') }),
              Dialog.okButton({ label: enable ? trans.__('Enable GPU') : trans.__('Disable GPU') })
            ]
          });
          if (!answer.button.accept) {
            return null;
          }
          profile = profile ?? (answer.value as string | undefined);
        }
        const result = await restartWithProgress(
          restarter,
          trans,
          {
            pending: enable
              ? trans.__('Switching to GPU mode: saving, then restarting the Jupyter server…')
              : trans.__('Switching to CPU mode: saving, then restarting the Jupyter server…'),
            done: r =>
              r.kernelsStarted === 0
                ? enable
                  ? trans.__('GPU mode is on.')
                  : trans.__('GPU mode is off.')
                : enable
                ? trans._n(
                    'GPU mode is on. %1 notebook restarted its kernel in GPU mode.',
                    'GPU mode is on. %1 notebooks restarted their kernels in GPU mode.',
                    r.kernelsStarted
                  )
                : trans._n(
                    'GPU mode is off. %1 notebook restarted its kernel in CPU mode.',
                    'GPU mode is off. %1 notebooks restarted their kernels in CPU mode.',
                    r.kernelsStarted
                  )
          },
          () => model.setGpuMode(enable, enable ? profile : undefined)
        );
        app.commands.notifyCommandChanged(GpuCommandIDs.toggle);
        return result;
      }
    });
    model.changed.connect(() => app.commands.notifyCommandChanged(GpuCommandIDs.toggle));
    palette?.addItem({ command: GpuCommandIDs.toggle, category: trans.__('Workspace') });
    toolbarRegistry?.addFactory('TopBar', 'gpu-toggle', () => new GpuToggleButton(app, model));
  }
};
