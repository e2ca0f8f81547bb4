import { Logger } from '../log';
import { requestOverSocket } from '../jupyter/unixHttp';

export interface KernelActivityOptions {
  socketPath: string;
  baseUrl: string;
  token: string;
  intervalMs: number;
  isRunning: () => boolean;
  /** Called when at least one kernel is busy. */
  onBusy: () => void;
  log: Logger;
}

/**
 * With `idle.signals: user_or_kernels`, a busy kernel counts as activity.
 * Jupyter's own `last_activity` cannot be used: it counts the page's
 * background polling too. The kernels' `execution_state` does not.
 */
export function watchKernelActivity(o: KernelActivityOptions): () => void {
  let inFlight = false;
  const timer = setInterval(() => {
    if (inFlight || !o.isRunning()) {
      return;
    }
    inFlight = true;
    requestOverSocket(o.socketPath, { path: `${o.baseUrl}api/kernels`, headers: { authorization: `token ${o.token}` }, timeoutMs: 5000 })
      .then(res => {
        if (res.status !== 200) {
          return;
        }
        const kernels = JSON.parse(res.body) as Array<{ execution_state?: string }>;
        if (kernels.some(k => k.execution_state === 'busy')) {
          o.onBusy();
        }
      })
      .catch(err => o.log.debug('could not ask Jupyter for busy kernels', { error: (err as Error).message }))
      .finally(() => (inFlight = false));
  }, o.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
