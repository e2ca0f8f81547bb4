import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Notification } from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { API_PATH } from '@jupyterlab-gpu-workspace/api';
import { WorkspaceModel } from '../model';
import { WorkspaceRequester } from '../server';
import { IWorkspaceModel } from '../tokens';
import { FRONTEND_VERSION } from '../version';

/** Provides the workspace model every surface plugin requires. */
export const corePlugin: JupyterFrontEndPlugin<IWorkspaceModel> = {
  id: 'jupyterlab-gpu-workspace:core',
  description: 'The GPU workspace model: state from the sidecar, kept fresh, and requests to it.',
  autoStart: true,
  provides: IWorkspaceModel,
  optional: [ITranslator],
  activate: (app: JupyterFrontEnd, translator: ITranslator | null): IWorkspaceModel => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_gpu_workspace');
    const settings = app.serviceManager.serverSettings;
    // EventSource cannot send headers: the token (when the page has one) goes in the query, the cookie by itself.
    const eventsUrl = URLExt.join(settings.baseUrl, API_PATH, 'events') + (settings.token ? `?token=${encodeURIComponent(settings.token)}` : '');
    const model = new WorkspaceModel({
      requester: new WorkspaceRequester(settings),
      frontendVersion: FRONTEND_VERSION,
      eventsUrl
    });
    let warned = false;
    model.changed.connect(() => {
      if (model.connection === 'version-mismatch' && !warned) {
        warned = true;
        Notification.error(
          trans.__(
            'This page was built for jupyterlab-gpu-workspace %1, but the workspace service runs %2. Reload the page; if this stays, ask your administrator to install the same version of both.',
            FRONTEND_VERSION,
            model.status?.version ?? '?'
          ),
          {
            autoClose: false,
            actions: [{ label: trans.__('Reload'), callback: () => window.location.reload() }]
          }
        );
      }
    });
    return model;
  }
};
