import { JupyterFrontEndPlugin } from '@jupyterlab/application';
import { corePlugin } from './plugins/core';
import { gpuMeterPlugin } from './plugins/gpuMeter';
import { gpuTogglePlugin } from './plugins/gpuToggle';
import { hookLogPlugin } from './plugins/hookLog';
import { idlePlugin } from './plugins/idle';
import { refreshPlugin } from './plugins/refresh';
import { resetPlugin } from './plugins/reset';
import { restarterPlugin } from './plugins/restarter';
import { snapshotsPlugin } from './plugins/snapshots';
import { statusItemPlugin } from './plugins/statusItem';
import { submitPlugin } from './plugins/submit';

export * from './tokens';
export { WorkspaceModel } from './model';
export { WorkspaceRequester, WorkspaceRequestError } from './server';
export { WorkspaceRestarter, SaveFailedError } from './restart';

const plugins: JupyterFrontEndPlugin<unknown>[] = [
  corePlugin,
  restarterPlugin,
  statusItemPlugin,
  refreshPlugin,
  gpuTogglePlugin,
  gpuMeterPlugin,
  idlePlugin,
  snapshotsPlugin,
  submitPlugin,
  hookLogPlugin,
  resetPlugin
];
export default plugins;
