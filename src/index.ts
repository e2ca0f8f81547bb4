import { JupyterFrontEndPlugin } from '@jupyterlab/application';
import { corePlugin } from './plugins/core';
import { refreshPlugin } from './plugins/refresh';
import { statusItemPlugin } from './plugins/statusItem';

export * from './tokens';
export { WorkspaceModel } from './model';
export { WorkspaceRequester, WorkspaceRequestError } from './server';
export { WorkspaceRestarter, SaveFailedError } from './restart';

const plugins: JupyterFrontEndPlugin<unknown>[] = [corePlugin, statusItemPlugin, refreshPlugin];
export default plugins;
