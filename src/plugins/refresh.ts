import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { restartWithProgress, WorkspaceRestarter } from '../restart';
import { IWorkspaceModel, IWorkspaceRestarter } from '../tokens';

export const CommandIDs = {
  refresh: 'gpu-workspace:refresh-workspace'
} as const;

/**
 * Workspace → Refresh Workspace: save everything, restart the Jupyter server
 * (files untouched), and give the open notebooks fresh kernels.
 */
export const refreshPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-gpu-workspace:refresh',
  description: 'The Refresh Workspace command and the Workspace menu.',
  autoStart: true,
  requires: [IWorkspaceModel, IWorkspaceRestarter],
  optional: [ICommandPalette, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    model: IWorkspaceModel,
    restarter: WorkspaceRestarter,
    palette: ICommandPalette | null,
    translator: ITranslator | null
  ) => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_gpu_workspace');
    app.commands.addCommand(CommandIDs.refresh, {
      label: trans.__('Refresh Workspace'),
      caption: trans.__('Save all documents, restart the Jupyter server and start fresh kernels. Files are not touched.'),
      isEnabled: () => !restarter.isRunning && model.connection !== 'restarting',
      execute: async () => {
        const result = await restartWithProgress(
          restarter,
          trans,
          {
            pending: trans.__('Refreshing the workspace: saving, then restarting the Jupyter server…'),
            done: r =>
              r.kernelsStarted
                ? trans._n(
                    'Workspace refreshed. %1 notebook has a fresh kernel.',
                    'Workspace refreshed. %1 notebooks have fresh kernels.',
                    r.kernelsStarted
                  )
                : trans.__('Workspace refreshed.')
          },
          () => model.restartServer()
        );
        app.commands.notifyCommandChanged(CommandIDs.refresh);
        return result;
      }
    });
    model.changed.connect(() => app.commands.notifyCommandChanged(CommandIDs.refresh));
    palette?.addItem({ command: CommandIDs.refresh, category: trans.__('Workspace') });
  }
};
