import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget } from '@jupyterlab/apputils';
import { IStatusBar } from '@jupyterlab/statusbar';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { WorkspaceRestarter } from '../restart';
import { IWorkspaceModel, IWorkspaceRestarter } from '../tokens';
import { SnapshotsClient } from '../api/snapshots';

export const CommandIDs = {
  open: 'gpu-workspace:open-snapshots',
  download: 'gpu-workspace:download-home'
} as const;
import { HomeUsage, HomeUsageItem } from '../components/homeUsage';
import { SnapshotsPanel } from '../components/snapshotsPanel';

/** Starts a download of the home as a zip. */
function downloadHome(client: SnapshotsClient): void {
  const a = document.createElement('a');
  a.href = client.archiveUrl();
  a.download = 'home.zip';
  document.body.append(a);
  a.click();
  a.remove();
}

export const snapshotsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-gpu-workspace:snapshots',
  description: 'The home usage meter, the Snapshots panel and the home zip download.',
  autoStart: true,
  requires: [IWorkspaceModel, IWorkspaceRestarter],
  optional: [IStatusBar, ICommandPalette, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    model: IWorkspaceModel,
    restarter: WorkspaceRestarter,
    statusBar: IStatusBar | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null
  ) => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_gpu_workspace');
    const client = new SnapshotsClient(model.requester);
    const usage = new HomeUsage(client);
    let shell: MainAreaWidget<SnapshotsPanel> | null = null;
    app.commands.addCommand(CommandIDs.open, {
      label: trans.__('Snapshots…'),
      caption: trans.__('Your home folder\'s snapshots and what uses its space: browse, restore, download.'),
      execute: () => {
        if (!shell || shell.isDisposed) {
          const panel = new SnapshotsPanel(client, usage, restarter, trans, () => downloadHome(client), path =>
            void app.commands.execute('filebrowser:go-to-path', { path, showBrowser: true })
          );
          shell = new MainAreaWidget({ content: panel });
          shell.id = 'jp-gpu-workspace-snapshots-panel';
          shell.title.label = trans.__('Snapshots');
          shell.title.closable = true;
        }
        if (!shell.isAttached) {
          app.shell.add(shell, 'main');
        }
        app.shell.activateById(shell.id);
        void shell.content.refresh();
      }
    });
    app.commands.addCommand(CommandIDs.download, {
      label: trans.__('Download home as zip'),
      caption: trans.__('Download every file of your home folder as one zip.'),
      execute: () => downloadHome(client)
    });
    palette?.addItem({ command: CommandIDs.open, category: trans.__('Workspace') });
    palette?.addItem({ command: CommandIDs.download, category: trans.__('Workspace') });
    if (statusBar) {
      statusBar.registerStatusItem('jupyterlab-gpu-workspace:home-usage', {
        item: new HomeUsageItem(usage, trans, () => void app.commands.execute(CommandIDs.open)),
        align: 'left',
        rank: 110
      });
    }
    // A file written, deleted or renamed through JupyterLab changes what the home holds.
    app.serviceManager.contents.fileChanged.connect(() => usage.soon());
    usage.start();
  }
};
