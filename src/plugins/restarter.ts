import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ISessionContext, Notification } from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { Poll } from '@lumino/polling';
import { WorkspaceRestarter } from '../restart';
import { IWorkspaceModel, IWorkspaceRestarter } from '../tokens';

export const restarterPlugin: JupyterFrontEndPlugin<WorkspaceRestarter> = {
  id: 'jupyterlab-gpu-workspace:restarter',
  description: 'The save / restart / reconnect sequence shared by Refresh Workspace and GPU switches.',
  autoStart: true,
  provides: IWorkspaceRestarter,
  requires: [IDocumentManager, IWorkspaceModel],
  optional: [ITranslator],
  activate: (app: JupyterFrontEnd, docManager: IDocumentManager, model: IWorkspaceModel, translator: ITranslator | null) => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_gpu_workspace');
    const restarter = new WorkspaceRestarter(app, docManager, trans);

    // A server restart this page did not ask for (the sidecar brought a crashed server back, or
    // forced CPU mode) would leave notebooks on "No Kernel": notice it and give them kernels again.
    let lastPid: number | null = null;
    let known = new Map<ISessionContext, string>();
    let expected = false;
    let gpuWasOn = false;
    const onStatus = (): void => {
      const jupyter = model.status?.jupyter;
      const gpu = model.status?.gpu;
      // The sidecar switched to CPU mode itself (hours used up): that, not a crash, is why the server restarted.
      const forcedOff = gpuWasOn && gpu?.mode !== 'on' && gpu?.switch_reason === 'quota_exhausted';
      if (gpu && gpu.mode !== 'switching') {
        gpuWasOn = gpu.mode === 'on';
      }
      if (model.connection === 'restarting' || restarter.isRunning) {
        expected = true;
        return;
      }
      if (!jupyter || jupyter.state !== 'running' || jupyter.pid === null) {
        return;
      }
      if (lastPid !== null && jupyter.pid !== lastPid && !expected && known.size > 0) {
        const lost = known;
        known = new Map();
        const why = forcedOff ? trans.__('switched to CPU mode: your GPU hours are used up') : (jupyter.last_exit ?? trans.__('restarted by the workspace'));
        void restarter.recoverLostKernels(lost).then(result => {
          remember();
          const message = result.kernelsStarted
            ? trans._n(
                'The Jupyter server restarted (%2). Your files are safe; %1 notebook has a fresh kernel.',
                'The Jupyter server restarted (%2). Your files are safe; %1 notebooks have fresh kernels.',
                result.kernelsStarted,
                why
              )
            : trans.__('The Jupyter server restarted (%1). Your files are safe.', why);
          Notification.warning(message, { autoClose: 10_000 });
        });
      }
      expected = false;
      lastPid = jupyter.pid;
    };
    model.changed.connect(onStatus);
    // Remember every kernel a notebook or console has had since the last restart. Entries are
    // only added while a kernel runs, because by the time a crash is noticed its sessions are gone.
    const remember = (): void => {
      for (const [context, name] of restarter.currentKernels()) {
        known.set(context, name);
      }
      for (const context of known.keys()) {
        if (context.isDisposed) {
          known.delete(context);
        }
      }
    };
    // The status poll alone notices a restart late: it ticks every 10 s, and backs off after
    // failures (up to a minute). When a kernel's connection drops or its session vanishes without
    // this page asking, the status is asked for at once, and then every second until the sidecar
    // says the server runs: its pid then tells whether it is a new server (see onStatus).
    const serverCheck = new Poll({
      auto: false,
      factory: async () => {
        await model.refresh();
        if (model.connection === 'connected' && model.status?.jupyter.state === 'running') {
          void serverCheck.stop();
        }
      },
      frequency: { interval: 1000, backoff: false },
      name: 'jupyterlab-gpu-workspace:server-check',
      standby: 'when-hidden'
    });
    const checkServer = (): void => {
      if (!restarter.isRunning && model.connection !== 'restarting') {
        void serverCheck.start();
      }
    };
    // A new notebook's kernel arrives after its session shows up in the running list, so each
    // session context is watched for kernel changes as soon as it is seen.
    const watched = new WeakSet<ISessionContext>();
    const watch = (): void => {
      for (const context of restarter.sessionContexts()) {
        if (!watched.has(context)) {
          watched.add(context);
          let connected = context.session?.kernel?.connectionStatus === 'connected';
          context.kernelChanged.connect(remember);
          context.sessionChanged.connect((_, change) => {
            // A session this page knew is gone (it vanished from the server's list).
            if (!change.newValue && change.oldValue && known.has(context)) {
              checkServer();
            }
          });
          context.connectionStatusChanged.connect((_, status) => {
            // A connection that was up dropped: the kernel's server may be gone.
            if (connected && status !== 'connected') {
              checkServer();
            }
            connected = status === 'connected';
          });
          context.statusChanged.connect((_, status) => {
            if (status === 'dead' && known.has(context)) {
              checkServer();
            }
          });
        }
      }
      remember();
    };
    app.serviceManager.sessions.runningChanged.connect(watch);
    model.changed.connect(watch);
    // The status may have arrived before this plugin was activated; it counts as the first one.
    onStatus();
    watch();
    return restarter;
  }
};
