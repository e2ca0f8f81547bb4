import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Dialog, ICommandPalette, Notification, showDialog } from '@jupyterlab/apputils';
import { IStatusBar } from '@jupyterlab/statusbar';
import { ITranslator, nullTranslator, TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import { describeLeases, formatCountdown, heartbeatIntervalMs, msToStop } from '../idle';
import { IWorkspaceModel } from '../tokens';

export namespace IdleCommandIDs {
  export const keepWorking = 'gpu-workspace:keep-working';
  export const showLeases = 'gpu-workspace:show-keep-awake-leases';
}

/** Real input; JupyterLab's own background requests never go through these. */
const INPUT_EVENTS = ['keydown', 'pointerdown', 'wheel', 'touchstart'] as const;

/** The keep-awake indicator: the idle countdown, or what holds the workspace awake. Click for details. */
export class KeepAwakeIndicator extends Widget {
  private timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly model: IWorkspaceModel,
    private readonly trans: TranslationBundle,
    private readonly onOpen: () => void
  ) {
    super();
    this.addClass('jp-gpu-workspace-idle');
    this.node.setAttribute('role', 'button');
    this.node.tabIndex = 0;
    this.node.addEventListener('click', () => this.onOpen());
    this.node.addEventListener('keydown', event => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        this.onOpen();
      }
    });
    model.changed.connect(this.render, this);
    this.timer = setInterval(() => this.render(), 1000);
    this.render();
  }

  private render(): void {
    const idle = this.model.status?.idle;
    this.node.hidden = !idle;
    if (!idle) {
      return;
    }
    this.node.dataset.state = idle.state;
    const now = Date.now();
    let text: string;
    if (idle.state === 'held') {
      const [first] = idle.leases;
      text =
        idle.leases.length === 1
          ? this.trans.__('Kept awake: %1 (pid %2)', first.label, first.pid)
          : this.trans.__('Kept awake by %1 processes', idle.leases.length);
    } else if (idle.state === 'stopped') {
      text = this.trans.__('Workspace stopped');
    } else {
      text = this.trans.__('Auto-stop in %1', formatCountdown(msToStop(idle, now) ?? 0));
    }
    this.node.textContent = text;
    this.node.title = describeLeases(idle, this.trans, now) + '\n' + this.trans.__('Click for details.');
    this.node.setAttribute('aria-label', text);
  }

  dispose(): void {
    clearInterval(this.timer);
    this.model.changed.disconnect(this.render, this);
    super.dispose();
  }
}

/** The countdown dialog's body: "This workspace stops in 4:59 because nothing is happening". */
class CountdownBody extends Widget {
  private timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly model: IWorkspaceModel,
    private readonly trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-gpu-workspace-idle-warning');
    this.node.setAttribute('aria-live', 'polite');
    this.timer = setInterval(() => this.render(), 1000);
    this.render();
  }

  private render(): void {
    const idle = this.model.status?.idle;
    const left = idle ? (msToStop(idle, Date.now()) ?? 0) : 0;
    this.node.textContent = this.trans.__('This workspace stops in %1 because nothing is happening.', formatCountdown(left));
  }

  dispose(): void {
    clearInterval(this.timer);
    super.dispose();
  }
}

/**
 * Shows the sidecar's stopped page in this tab: a reload, which the sidecar
 * answers with it while stopped. A real reload (not a page written over this
 * one) leaves no JupyterLab running behind it to reconnect or start kernels
 * when the workspace comes back. JupyterLab's "leave the page?" prompt is
 * silenced: the server is gone, nothing can be saved any more.
 */
function showStoppedPage(): void {
  window.addEventListener('beforeunload', event => event.stopImmediatePropagation(), { capture: true });
  window.location.reload();
}

export const idlePlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-gpu-workspace:idle',
  description: 'Tells the workspace about real input, warns before the idle stop, shows the stop and the keep-awake leases.',
  autoStart: true,
  requires: [IWorkspaceModel],
  optional: [IStatusBar, ICommandPalette, ITranslator],
  activate: (app: JupyterFrontEnd, model: IWorkspaceModel, statusBar: IStatusBar | null, palette: ICommandPalette | null, translator: ITranslator | null) => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_gpu_workspace');
    let lastSent = 0;
    let warning: Dialog<unknown> | null = null;
    let stopped = false;

    const keepWorking = (): void => {
      lastSent = Date.now();
      void model.keepWorking().catch(() => undefined);
    };

    const onInput = (): void => {
      const idle = model.status?.idle;
      if (document.visibilityState !== 'visible' || !idle || idle.state === 'stopped') {
        return;
      }
      // In the warning, input answers at once (and closes the dialog); otherwise heartbeats are throttled.
      if (idle.state === 'warning' || Date.now() - lastSent >= heartbeatIntervalMs(idle)) {
        keepWorking();
      }
      if (warning) {
        const dialog = warning;
        warning = null;
        // After this event, so the key or click that dismissed it does nothing else in the dialog.
        setTimeout(() => dialog.resolve(0), 0);
      }
    };
    for (const type of INPUT_EVENTS) {
      window.addEventListener(type, onInput, { capture: true, passive: true });
    }

    const openWarning = (): void => {
      const body = new CountdownBody(model, trans);
      const dialog = new Dialog({
        title: trans.__('Still there?'),
        body,
        buttons: [Dialog.okButton({ label: trans.__('Keep working') })]
      });
      warning = dialog;
      void dialog.launch().then(() => {
        if (warning === dialog) {
          warning = null;
        }
        keepWorking();
      });
    };

    model.changed.connect(() => {
      const idle = model.status?.idle;
      if (!idle) {
        return;
      }
      if (idle.state === 'warning' && !warning && !stopped) {
        openWarning();
      } else if (idle.state !== 'warning' && warning) {
        const dialog = warning;
        warning = null;
        dialog.reject();
      }
      if (idle.state === 'stopped' && !stopped) {
        stopped = true;
        showStoppedPage();
      }
    });

    model.notice.connect((_, notice) => {
      if (notice.kind === 'lease_ended') {
        Notification.warning(
          trans.__('Nothing holds the workspace awake any more: the idle clock runs again. Save your results, or they are lost when the workspace stops.') +
            (notice.snapshot ? ` ${notice.snapshot}` : ''),
          { autoClose: 15_000 }
        );
      }
    });

    const showLeases = async (): Promise<void> => {
      const idle = model.status?.idle;
      const body = document.createElement('pre');
      body.className = 'jp-gpu-workspace-idle-leases';
      body.textContent = idle ? describeLeases(idle, trans, Date.now()) : trans.__('The workspace service has not answered yet.');
      await showDialog({
        title: trans.__('Keep-awake leases'),
        body: new Widget({ node: body }),
        buttons: [Dialog.okButton({ label: trans.__('Close') })]
      });
    };

    app.commands.addCommand(IdleCommandIDs.keepWorking, {
      label: trans.__('Keep Working'),
      caption: trans.__('Tell the workspace you are here: the idle stop countdown starts over.'),
      execute: () => keepWorking()
    });
    app.commands.addCommand(IdleCommandIDs.showLeases, {
      label: trans.__('Show Keep-Awake Leases'),
      caption: trans.__('What holds the workspace awake, and for how long.'),
      execute: () => showLeases()
    });
    palette?.addItem({ command: IdleCommandIDs.keepWorking, category: trans.__('Workspace') });
    palette?.addItem({ command: IdleCommandIDs.showLeases, category: trans.__('Workspace') });

    statusBar?.registerStatusItem('jupyterlab-gpu-workspace:keep-awake', {
      item: new KeepAwakeIndicator(model, trans, () => void showLeases()),
      align: 'left',
      rank: 110
    });
  }
};
