import type { GpuDevice } from '@jupyterlab-gpu-workspace/api';
import { Clock, systemClock } from '../quota/ledger';
import { GpuProbe } from './probe';

export interface UtilizationWatchOptions {
  probe: () => Promise<GpuProbe>;
  pollMs: number;
  /** Below this utilisation on every device the GPU counts as idle. */
  idlePercent: number;
  /** Only watched while this is true (GPU mode on). */
  active: () => boolean;
  /** New readings arrived. */
  onReading: (devices: GpuDevice[]) => void;
  clock?: Clock;
}

/**
 * Reads GPU utilisation while GPU mode is on, to tell the user when the GPU
 * sits idle while hours burn. A reading that fails (nvidia-smi failing or
 * hanging) is "unknown", never 0 %: it ends any idle stretch and is reported.
 */
export class UtilizationWatch {
  private idleSinceMs: number | null = null;
  private error: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private polling = false;
  private readonly clock: Clock;

  constructor(private readonly options: UtilizationWatchOptions) {
    this.clock = options.clock ?? systemClock;
  }

  get idleSince(): number | null {
    return this.idleSinceMs;
  }

  /** Why the last reading failed, or null. */
  get readingError(): string | null {
    return this.error;
  }

  start(): void {
    this.timer = setInterval(() => void this.poll(), this.options.pollMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** GPU mode changed: an idle stretch never carries over from one session to the next. */
  reset(): void {
    this.idleSinceMs = null;
    this.error = null;
  }

  /** One reading; exposed for tests. A reading still running (a hanging nvidia-smi) is not doubled. */
  async poll(): Promise<void> {
    if (!this.options.active() || this.polling) {
      return;
    }
    this.polling = true;
    try {
      const probe = await this.options.probe();
      if (!this.options.active()) {
        return;
      }
      if (!probe.available) {
        this.error = probe.reason ?? 'nvidia-smi gave no reading.';
        this.idleSinceMs = null;
      } else {
        this.error = null;
        const busiest = Math.max(0, ...probe.devices.map(d => d.utilization_percent ?? 0));
        const unknown = probe.devices.some(d => d.utilization_percent === null);
        if (unknown || busiest >= this.options.idlePercent) {
          this.idleSinceMs = null;
        } else {
          this.idleSinceMs ??= this.clock.wallMs();
        }
      }
      this.options.onReading(probe.devices);
    } finally {
      this.polling = false;
    }
  }
}
