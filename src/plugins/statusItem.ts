import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { IStatusBar } from '@jupyterlab/statusbar';
import { ITranslator, nullTranslator, TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import { ConnectionState, IWorkspaceModel } from '../tokens';

function describe(state: ConnectionState, trans: TranslationBundle): string {
  switch (state) {
    case 'connected':
      return trans.__('Workspace: connected');
    case 'connecting':
      return trans.__('Workspace: connecting…');
    case 'restarting':
      return trans.__('Workspace: restarting…');
    case 'unreachable':
      return trans.__('Workspace: unreachable');
    case 'version-mismatch':
      return trans.__('Workspace: version mismatch');
  }
}

/** A status bar item saying whether the workspace service answers. */
export class WorkspaceStatusItem extends Widget {
  private readonly dot = document.createElement('span');
  private readonly label = document.createElement('span');

  constructor(
    private readonly model: IWorkspaceModel,
    private readonly trans: TranslationBundle
  ) {
    super();
    this.addClass('jp-gpu-workspace-status');
    this.node.setAttribute('role', 'status');
    this.node.setAttribute('aria-live', 'polite');
    this.dot.className = 'jp-gpu-workspace-status-dot';
    this.dot.setAttribute('aria-hidden', 'true');
    this.node.append(this.dot, this.label);
    model.changed.connect(this.render, this);
    this.render();
  }

  private render(): void {
    const state = this.model.connection;
    this.node.dataset.state = state;
    this.label.textContent = describe(state, this.trans);
    const detail =
      this.model.lastError ??
      (this.model.status
        ? this.trans.__(
            'Workspace service %1 — Jupyter server %2 (restarts: %3)',
            this.model.status.version,
            this.model.status.jupyter.state,
            this.model.status.jupyter.restarts
          ) +
          '\n' +
          (this.model.status.isolation.enforced
            ? this.trans.__('Notebook code runs as %1, apart from the workspace service.', this.model.status.isolation.user)
            : this.trans.__('Notebook code is not isolated from the workspace service: %1', this.model.status.isolation.reason ?? ''))
        : '');
    this.node.title = detail;
  }

  dispose(): void {
    this.model.changed.disconnect(this.render, this);
    super.dispose();
  }
}

export const statusItemPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-gpu-workspace:status',
  description: 'Shows in the status bar whether the workspace service is reachable.',
  autoStart: true,
  requires: [IWorkspaceModel],
  optional: [IStatusBar, ITranslator],
  activate: (_app: JupyterFrontEnd, model: IWorkspaceModel, statusBar: IStatusBar | null, translator: ITranslator | null) => {
    if (!statusBar) {
      return;
    }
    const trans = (translator ?? nullTranslator).load('jupyterlab_gpu_workspace');
    statusBar.registerStatusItem('jupyterlab-gpu-workspace:status', {
      item: new WorkspaceStatusItem(model, trans),
      align: 'left',
      rank: 100
    });
  }
};
