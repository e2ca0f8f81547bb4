import type { WatchdogStop } from '@jupyterlab-gpu-workspace/api';
import * as fs from 'node:fs';
import { signal } from '../jupyter/processes';
import { Logger } from '../log';
import { ComputeApp } from './probe';

export interface WatchdogOptions {
  intervalMs: number;
  /** Processes using a GPU now. */
  computeApps: () => Promise<ComputeApp[]>;
  /**
   * Whether a process belongs to the workspace: by the containment's test
   * (its cgroup, its real uid), not by descent from Jupyter, which a detached
   * process has left.
   */
  inWorkspace: (pid: number) => boolean;
  /** True in CPU mode (the only mode the watchdog acts in). */
  active: () => boolean;
  audit: (action: string, detail: object) => void;
  onStop: () => void;
  log: Logger;
}

const MAX_KEPT = 10;

function commandOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim().slice(0, 200);
  } catch {
    return `pid ${pid}`;
  }
}

/**
 * The backstop for CPU mode, where device permissions cannot hold (nodes open
 * to everyone, no device group, or a process started in GPU mode that
 * detached from Jupyter and kept the device open): any process of the
 * workspace that holds GPU memory in CPU mode is stopped, the user is told
 * why, and an audit row is written.
 */
export class GpuWatchdog {
  private timer: NodeJS.Timeout | null = null;
  private checking = false;
  private readonly stopped: WatchdogStop[] = [];

  constructor(private readonly options: WatchdogOptions) {}

  /** What was stopped, newest first. */
  get stops(): WatchdogStop[] {
    return [...this.stopped];
  }

  start(): void {
    if (this.options.intervalMs > 0) {
      this.timer = setInterval(() => void this.check(), this.options.intervalMs);
      this.timer.unref();
    }
  }

  stop(): void {
    if (this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** One look; exposed for tests. */
  async check(): Promise<void> {
    if (!this.options.active() || this.checking) {
      return;
    }
    this.checking = true;
    try {
      let apps: ComputeApp[];
      try {
        apps = await this.options.computeApps();
      } catch (err) {
        this.options.log.debug('watchdog could not ask nvidia-smi', { error: (err as Error).message });
        return;
      }
      if (!apps.length || !this.options.active()) {
        return;
      }
      for (const app of apps.filter(a => this.options.inWorkspace(a.pid))) {
        const entry: WatchdogStop = { pid: app.pid, command: commandOf(app.pid), used_memory_mib: app.used_memory_mib, at: new Date().toISOString() };
        signal(app.pid, 'SIGKILL');
        this.options.log.warn('stopped a workspace process that used the GPU in CPU mode', { ...entry });
        this.options.audit('gpu.watchdog_stopped', entry);
        this.stopped.unshift(entry);
        this.stopped.splice(MAX_KEPT);
        this.options.onStop();
      }
    } finally {
      this.checking = false;
    }
  }
}
