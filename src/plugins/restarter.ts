import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { Token } from '@lumino/coreutils';
import { WorkspaceRestarter } from '../restart';

export const IWorkspaceRestarter = new Token<WorkspaceRestarter>(
  'jupyterlab-gpu-workspace:IWorkspaceRestarter',
  'Saves, shuts kernels down, restarts the Jupyter server and starts fresh kernels: shared by Refresh and GPU switches so only one runs at a time.'
);

export const restarterPlugin: JupyterFrontEndPlugin<WorkspaceRestarter> = {
  id: 'jupyterlab-gpu-workspace:restarter',
  description: 'The save / restart / reconnect sequence shared by Refresh Workspace and GPU switches.',
  autoStart: true,
  provides: IWorkspaceRestarter,
  requires: [IDocumentManager],
  optional: [ITranslator],
  activate: (app: JupyterFrontEnd, docManager: IDocumentManager, translator: ITranslator | null) =>
    new WorkspaceRestarter(app, docManager, (translator ?? nullTranslator).load('jupyterlab_gpu_workspace'))
};
