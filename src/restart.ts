import { JupyterFrontEnd } from '@jupyterlab/application';
import { ISessionContext, Notification } from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { KernelAPI } from '@jupyterlab/services';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

/** A document that could not be saved; the restart is refused so nothing is lost. */
export class SaveFailedError extends Error {
  constructor(
    readonly path: string,
    reason: string
  ) {
    super(reason);
    this.name = 'SaveFailedError';
  }
}

interface IKernelOwner {
  sessionContext: ISessionContext;
  kernelName: string;
}

export interface IRestartResult {
  /** Notebooks and consoles that got a fresh kernel after the restart. */
  kernelsStarted: number;
  /** Paths whose kernel could not be started again, with the reason. */
  kernelFailures: Array<{ path: string; reason: string }>;
}

const hasSessionContext = (w: Widget): w is Widget & { sessionContext: ISessionContext } => {
  const candidate = (w as Partial<{ sessionContext: ISessionContext }>).sessionContext;
  return !!candidate && typeof candidate.changeKernel === 'function';
};

/**
 * Restarts the Jupyter server without the user seeing a broken state: every
 * dirty document is saved first (a failed save aborts), kernels are shut down
 * cleanly before the server goes (so no "Kernel died unexpectedly" dialog),
 * and each open notebook or console gets a fresh kernel of the same kind after.
 * Refresh Workspace uses it; GPU mode switches will too.
 */
export class WorkspaceRestarter {
  private running = false;

  constructor(
    private readonly app: JupyterFrontEnd,
    private readonly docManager: IDocumentManager,
    private readonly trans: TranslationBundle
  ) {}

  get isRunning(): boolean {
    return this.running;
  }

  /** Saves every document with unsaved changes; throws SaveFailedError naming the first that fails. */
  async saveAll(): Promise<number> {
    const seen = new Set<string>();
    let saved = 0;
    for (const widget of this.app.shell.widgets('main')) {
      const context = this.docManager.contextForWidget(widget);
      if (!context || seen.has(context.path)) {
        continue;
      }
      seen.add(context.path);
      if (!context.model.dirty) {
        continue;
      }
      try {
        await context.save();
      } catch (err) {
        throw new SaveFailedError(context.path, err instanceof Error ? err.message : String(err));
      }
      if (context.model.dirty) {
        throw new SaveFailedError(context.path, this.trans.__('it still has unsaved changes after saving'));
      }
      saved += 1;
    }
    return saved;
  }

  /**
   * Runs `restartServer` inside the save / shut down / restart / reconnect
   * sequence. With `freshKernels: 'on-failure'` the open notebooks get fresh
   * kernels only when `restartServer` fails: a caller that reloads the page
   * after a success (Reset Data) has no use for them.
   */
  async run(restartServer: () => Promise<void>, options: { freshKernels?: 'always' | 'on-failure' } = {}): Promise<IRestartResult> {
    if (this.running) {
      throw new Error(this.trans.__('A workspace restart is already in progress.'));
    }
    this.running = true;
    try {
      await this.saveAll();
      const owners = this.kernelOwners();
      await Promise.all(owners.map(o => o.sessionContext.shutdown().catch(() => undefined)));
      // Terminals cannot survive a server restart; closing them now avoids dead tabs.
      await this.app.serviceManager.terminals.shutdownAll().catch(() => undefined);
      let restartError: unknown = null;
      try {
        await restartServer();
      } catch (err) {
        restartError = err;
      }
      // Whether or not the restart worked, the notebooks must not be left without kernels.
      if (restartError) {
        await this.restartKernels(owners);
        throw restartError;
      }
      return options.freshKernels === 'on-failure' ? { kernelsStarted: 0, kernelFailures: [] } : await this.restartKernels(owners);
    } finally {
      this.running = false;
    }
  }

  /**
   * After a server restart this page did not ask for (a crash the sidecar
   * recovered from, or a switch the sidecar forced): notebooks and consoles
   * that lost their kernel get a fresh one of the kind they had.
   * `known` maps each session context to the kernel it had before.
   *
   * A lost kernel does not always look lost yet: until JupyterLab's own polls
   * reach the new server, its connection just keeps reconnecting (status
   * "unknown", not "dead"). So the server is asked which kernels it has.
   */
  async recoverLostKernels(known: Map<ISessionContext, string>): Promise<IRestartResult> {
    if (this.running) {
      return { kernelsStarted: 0, kernelFailures: [] };
    }
    this.running = true;
    try {
      const services = this.app.serviceManager;
      // Fresh lists from the new server: connections to sessions and kernels it does not have are disposed.
      await Promise.all([services.sessions.refreshRunning(), services.kernels.refreshRunning()]).catch(() => undefined);
      const lost: IKernelOwner[] = [];
      for (const [sessionContext, kernelName] of known) {
        if (!sessionContext.isDisposed && (await this.kernelIsGone(sessionContext))) {
          // A session object of the old server (its refresh failed) would be asked to change its
          // kernel, which the new server answers 404 ("Error Starting Kernel"): drop it, start anew.
          const stale = sessionContext.session;
          if (stale && !stale.isDisposed) {
            stale.dispose();
          }
          lost.push({ sessionContext, kernelName });
        }
      }
      return await this.restartKernels(lost);
    } finally {
      this.running = false;
    }
  }

  /** Whether the kernel of `sessionContext` is not one the (restarted) server runs. */
  private async kernelIsGone(sessionContext: ISessionContext): Promise<boolean> {
    const kernel = sessionContext.session?.kernel;
    if (!kernel || kernel.isDisposed || kernel.status === 'dead') {
      return true;
    }
    try {
      return (await KernelAPI.getKernelModel(kernel.id, this.app.serviceManager.serverSettings)) === undefined;
    } catch {
      // The server did not say: a kernel that is not connected did not survive the restart either.
      return kernel.connectionStatus !== 'connected';
    }
  }

  /** The session contexts of every open notebook and console. */
  sessionContexts(): ISessionContext[] {
    const contexts = new Set<ISessionContext>();
    for (const widget of this.app.shell.widgets('main')) {
      if (hasSessionContext(widget)) {
        contexts.add(widget.sessionContext);
      }
    }
    return [...contexts];
  }

  /** The kernel each open notebook or console has now. */
  currentKernels(): Map<ISessionContext, string> {
    return new Map(this.kernelOwners().map(o => [o.sessionContext, o.kernelName]));
  }

  private kernelOwners(): IKernelOwner[] {
    const owners: IKernelOwner[] = [];
    const seen = new Set<ISessionContext>();
    for (const widget of this.app.shell.widgets('main')) {
      if (!hasSessionContext(widget) || seen.has(widget.sessionContext)) {
        continue;
      }
      const kernel = widget.sessionContext.session?.kernel;
      seen.add(widget.sessionContext);
      if (kernel) {
        owners.push({ sessionContext: widget.sessionContext, kernelName: kernel.name });
      }
    }
    return owners;
  }

  private async restartKernels(owners: IKernelOwner[]): Promise<IRestartResult> {
    const services = this.app.serviceManager;
    await Promise.all([services.kernelspecs.refreshSpecs(), services.sessions.refreshRunning()]).catch(() => undefined);
    const result: IRestartResult = { kernelsStarted: 0, kernelFailures: [] };
    for (const owner of owners) {
      if (owner.sessionContext.isDisposed) {
        continue;
      }
      try {
        await owner.sessionContext.changeKernel({ name: owner.kernelName });
        result.kernelsStarted += 1;
      } catch (err) {
        result.kernelFailures.push({ path: owner.sessionContext.path, reason: err instanceof Error ? err.message : String(err) });
      }
    }
    return result;
  }
}

/** Shows one notification that follows the restart from start to end. */
export async function restartWithProgress(
  restarter: WorkspaceRestarter,
  trans: TranslationBundle,
  labels: { pending: string; done: (r: IRestartResult) => string },
  restartServer: () => Promise<void>
): Promise<IRestartResult | null> {
  const id = Notification.emit(labels.pending, 'in-progress', { autoClose: false });
  try {
    const result = await restarter.run(restartServer);
    const failures = result.kernelFailures.map(f => `${f.path}: ${f.reason}`).join('; ');
    // The outcome replaces the progress toast: updating a toast that is still being mounted can be lost.
    Notification.dismiss(id);
    if (failures) {
      Notification.warning(`${labels.done(result)} ${trans.__('Some kernels did not start: %1', failures)}`, { autoClose: false });
    } else {
      Notification.success(labels.done(result), { autoClose: 5000 });
    }
    return result;
  } catch (err) {
    const message =
      err instanceof SaveFailedError
        ? trans.__('Nothing was restarted: "%1" could not be saved (%2). Save or close it, then try again.', err.path, err.message)
        : trans.__('The workspace could not be restarted: %1', err instanceof Error ? err.message : String(err));
    Notification.dismiss(id);
    Notification.error(message, { autoClose: false });
    return null;
  }
}
