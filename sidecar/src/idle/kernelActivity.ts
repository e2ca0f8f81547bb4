import { Logger } from '../log';
import { requestOverSocket } from '../jupyter/unixHttp';

export interface KernelActivityOptions {
  socketPath: string;
  baseUrl: string;
  /** Jupyter's current token (it changes at each start). */
  token: () => string;
  intervalMs: number;
  isRunning: () => boolean;
  /** Called when at least one kernel is busy, or a terminal has had output since the last look. */
  onBusy: () => void;
  log: Logger;
}

/** Terminal name → its `last_activity`, as Jupyter last reported them. */
type TerminalActivity = Map<string, string>;

/**
 * With `idle.signals: user_or_kernels`, busy kernels and terminal output
 * count as activity. Jupyter's server-wide `last_activity` cannot be used: it
 * counts the page's background polling too. A kernel's `execution_state`
 * does not, and neither does a terminal's own `last_activity`, which moves
 * only when the terminal writes to (or reads from) an open terminal tab.
 */
export function watchKernelActivity(o: KernelActivityOptions): () => void {
  let inFlight = false;
  let terminals: TerminalActivity | null = null;
  const ask = async <T>(route: string): Promise<T | null> => {
    const res = await requestOverSocket(o.socketPath, { path: `${o.baseUrl}${route}`, headers: { authorization: `token ${o.token()}` }, timeoutMs: 5000 });
    return res.status === 200 ? (JSON.parse(res.body) as T) : null;
  };
  const look = async (): Promise<boolean> => {
    const kernels = await ask<Array<{ execution_state?: string }>>('api/kernels');
    const busyKernel = kernels?.some(k => k.execution_state === 'busy') ?? false;
    const list = await ask<Array<{ name: string; last_activity?: string }>>('api/terminals');
    if (list === null) {
      return busyKernel;
    }
    const now: TerminalActivity = new Map(list.map(t => [t.name, t.last_activity ?? '']));
    // A terminal seen before whose activity moved since: it wrote output (a new one counts from the next look).
    const moved = terminals !== null && [...now].some(([name, at]) => terminals?.has(name) && terminals.get(name) !== at);
    terminals = now;
    return busyKernel || moved;
  };
  const timer = setInterval(() => {
    if (inFlight || !o.isRunning()) {
      return;
    }
    inFlight = true;
    look()
      .then(active => {
        if (active) {
          o.onBusy();
        }
      })
      .catch(err => o.log.debug('could not ask Jupyter for busy kernels and terminals', { error: (err as Error).message }))
      .finally(() => (inFlight = false));
  }, o.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
