import { EventEmitter } from 'node:events';
import type { IdleNotice, IdleSignals, IdleState, IdleStatus } from '@jupyterlab-gpu-workspace/api';
import type { WorkspaceConfig } from '../config/schema';
import { Logger } from '../log';
import { HomeSnapshotter } from '../snapshots/port';
import { LeaseTable } from './leases';

export interface IdlePolicy {
  timeoutMinutes: number;
  warningMinutes: number;
  signals: IdleSignals;
  maxHours: number;
  heartbeatSeconds: number;
}

/** The inactivity policy of the operator config (a lease's limits bound how long it keeps the workspace awake). */
export function idlePolicy(config: WorkspaceConfig): IdlePolicy {
  return {
    timeoutMinutes: config.idle.timeout_minutes,
    warningMinutes: config.idle.warning_minutes,
    signals: config.idle.signals,
    maxHours: config.keep_awake.max_hours,
    heartbeatSeconds: config.keep_awake.heartbeat_seconds
  };
}

/** What the idle policy needs of the Jupyter supervisor. */
export interface ParkableSupervisor {
  park(reason: string): Promise<void>;
  resume(): Promise<void>;
  readonly isParked: boolean;
}

export interface IdleControllerOptions {
  policy: IdlePolicy;
  leases: LeaseTable;
  supervisor: ParkableSupervisor;
  /** Null until the snapshot engine exists, or where snapshots are not set up. */
  snapshotter: HomeSnapshotter | null;
  log: Logger;
  now?: () => number;
  /** How often leases are checked for a holder that exited (ms). */
  sweepMs?: number;
}

/** Where activity came from: the page's heartbeats, a busy kernel, or a (re)start. */
export type ActivitySource = 'user' | 'kernel' | 'start';

/**
 * The inactivity policy. The idle clock restarts on every activity that
 * counts (user heartbeats; busy kernels with `user_or_kernels`); leases hold
 * it; at the deadline the sidecar itself, with or without a browser open,
 * snapshots the home (where snapshots exist), stops Jupyter (which ends GPU
 * metering: the meter charges only while Jupyter runs) and keeps it stopped
 * until start().
 */
export class IdleController extends EventEmitter<{ changed: []; notice: [IdleNotice] }> {
  private lastActivityMs: number;
  private stoppedAtMs: number | null = null;
  /** Set from the moment the stop begins: activity no longer counts. */
  private stopping = false;
  private starting: Promise<void> | null = null;
  /** The stop under way: a Start pressed meanwhile waits for it, then starts. */
  private stopDone: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private sweeper: NodeJS.Timeout | null = null;
  private lastState: IdleState;
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly options: IdleControllerOptions) {
    super();
    this.now = options.now ?? Date.now;
    this.lastActivityMs = this.now();
    this.lastState = this.state();
    options.leases.on('acquired', () => this.update());
    options.leases.on('ended', (lease, why) => options.log.info('keep-awake lease ended', { id: lease.id, label: lease.label, pid: lease.pid, why }));
    options.leases.on('empty', () => void this.onLastLeaseEnded());
  }

  /** Starts the clock and the lease sweep. */
  start(): void {
    this.lastActivityMs = this.now();
    this.arm();
    this.sweeper = setInterval(() => this.options.leases.sweep(), this.options.sweepMs ?? 1000);
    this.sweeper.unref();
  }

  close(): void {
    this.closed = true;
    if (this.timer) {
      clearTimeout(this.timer);
    }
    if (this.sweeper) {
      clearInterval(this.sweeper);
    }
  }

  get isStopped(): boolean {
    return this.stopping || this.stoppedAtMs !== null || this.options.supervisor.isParked;
  }

  get timeoutMs(): number {
    return this.options.policy.timeoutMinutes * 60_000;
  }

  state(): IdleState {
    if (this.isStopped) {
      return 'stopped';
    }
    if (this.options.leases.size > 0) {
      return 'held';
    }
    return this.now() >= this.warningAtMs() ? 'warning' : 'active';
  }

  status(): IdleStatus {
    const state = this.state();
    const counting = state === 'active' || state === 'warning';
    const p = this.options.policy;
    return {
      state,
      deadline: counting ? new Date(this.deadlineMs()).toISOString() : null,
      warning_at: counting ? new Date(this.warningAtMs()).toISOString() : null,
      leases: this.options.leases.list(),
      stopped_at: this.stoppedAtMs === null ? null : new Date(this.stoppedAtMs).toISOString(),
      last_activity: new Date(this.lastActivityMs).toISOString(),
      timeout_minutes: p.timeoutMinutes,
      warning_minutes: p.warningMinutes,
      signals: p.signals,
      max_hours: p.maxHours,
      heartbeat_seconds: p.heartbeatSeconds,
      starting: this.starting !== null
    };
  }

  /** Something that counts happened: the idle clock starts over. Ignored once stopped. */
  activity(source: ActivitySource): void {
    if (this.isStopped || this.closed) {
      return;
    }
    if (source === 'kernel' && this.options.policy.signals !== 'user_or_kernels') {
      return;
    }
    this.lastActivityMs = this.now();
    this.arm();
    this.update(true);
  }

  /**
   * Starts a stopped workspace. Pressed twice, or while a start runs, it is
   * one start: every caller waits on the same one. Resolves false when the
   * workspace was not stopped.
   */
  startAgain(): { started: boolean; done: Promise<void> } {
    if (this.starting) {
      return { started: false, done: this.starting };
    }
    if (!this.isStopped) {
      return { started: false, done: Promise.resolve() };
    }
    const run = (this.stopDone ?? Promise.resolve())
      .then(() => this.options.supervisor.resume())
      .then(() => {
        this.stoppedAtMs = null;
        this.lastActivityMs = this.now();
        this.arm();
        this.emit('notice', { kind: 'started', message: 'The workspace was started again.', snapshot: null });
      })
      .finally(() => {
        this.starting = null;
        this.update();
      });
    this.starting = run;
    this.update();
    // The caller answers 202 at once; a failed start is in the status (jupyter.last_error).
    run.catch(err => this.options.log.warn('start after idle stop failed', { error: (err as Error).message }));
    return { started: true, done: run };
  }

  private deadlineMs(): number {
    return this.lastActivityMs + this.timeoutMs;
  }

  private warningAtMs(): number {
    return this.deadlineMs() - this.options.policy.warningMinutes * 60_000;
  }

  /** One timer, set for the next moment the state changes by itself (the warning, then the deadline). */
  private arm(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.closed || this.isStopped) {
      return;
    }
    const now = this.now();
    const warningAt = this.warningAtMs();
    const next = now < warningAt ? warningAt : this.deadlineMs();
    this.timer = setTimeout(() => this.onTimer(), Math.max(0, next - now));
  }

  private onTimer(): void {
    this.timer = null;
    if (this.closed || this.isStopped) {
      return;
    }
    if (this.options.leases.size > 0) {
      // Held: the clock waits for the last lease to end (onLastLeaseEnded restarts it).
      this.update();
      return;
    }
    if (this.now() >= this.deadlineMs()) {
      this.stopDone = this.stopForIdle().finally(() => (this.stopDone = null));
      return;
    }
    this.update();
    this.arm();
  }

  private async stopForIdle(): Promise<void> {
    this.stopping = true;
    // The moment it stopped for the user: from here nothing counts and the page says so.
    this.stoppedAtMs = this.now();
    this.update();
    const log = this.options.log;
    log.info('nothing happened for the idle timeout: stopping the workspace', { timeout_minutes: this.options.policy.timeoutMinutes });
    const snapshot = await this.snapshot('idle-stop');
    try {
      await this.options.supervisor.park('idle timeout');
    } catch (err) {
      log.warn('could not stop the workspace for inactivity', { error: (err as Error).message });
      this.stoppedAtMs = null;
      this.lastActivityMs = this.now();
    } finally {
      this.stopping = false;
      this.options.leases.clear();
      this.arm();
      this.update();
    }
    if (this.stoppedAtMs !== null) {
      this.emit('notice', {
        kind: 'stopped',
        message: 'The workspace was stopped because nothing was happening. Your files are safe; variables in kernel memory are gone.',
        snapshot
      });
    }
  }

  private async onLastLeaseEnded(): Promise<void> {
    if (this.isStopped || this.closed) {
      return;
    }
    // The clock runs again from now: a long job that just ended gets the whole timeout to be looked at.
    this.lastActivityMs = this.now();
    this.arm();
    this.update(true);
    const snapshot = await this.snapshot('keep-awake-end');
    this.emit('notice', {
      kind: 'lease_ended',
      message: 'Nothing holds the workspace awake any more: the idle clock runs again. Save your results, or they are lost when it stops.',
      snapshot
    });
  }

  /** Asks for a snapshot where snapshots exist; never fails the caller's work. */
  private async snapshot(trigger: 'idle-stop' | 'keep-awake-end'): Promise<string | null> {
    const snapshotter = this.options.snapshotter;
    if (!snapshotter) {
      return null;
    }
    try {
      const outcome = await snapshotter.snapshotFor(trigger);
      return outcome.taken ? `Snapshot ${outcome.id} was taken.` : `No snapshot was taken: ${outcome.reason}`;
    } catch (err) {
      this.options.log.warn('snapshot failed', { trigger, error: (err as Error).message });
      return `No snapshot was taken: ${(err as Error).message}`;
    }
  }

  /** Tells listeners when the state changed (or always, when the deadline moved). */
  private update(deadlineMoved = false): void {
    const state = this.state();
    if (state !== this.lastState || deadlineMoved) {
      this.lastState = state;
      this.emit('changed');
    }
  }
}
