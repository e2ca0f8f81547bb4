import { Logger } from '../log';
import { Clock, systemClock } from '../quota/ledger';

export interface ExhaustionGuardOptions {
  graceMs: number;
  /** How soon a forced switch is tried again when a restart was in its way. */
  retryMs: number;
  /** Hours left right now (a grant may have added some). */
  remainingSeconds: () => number;
  /** Switches to CPU mode; rejects when it cannot start now (busy) or failed. */
  switchOff: () => Promise<void>;
  /** True while GPU mode is on or going on. */
  gpuOn: () => boolean;
  audit: (action: string, detail: object) => void;
  /** Something a page shows changed. */
  onChange: () => void;
  log: Logger;
  clock?: Clock;
}

/**
 * The one place that enforces an exhausted quota. When the hours run out it
 * announces a switch time (open pages save their documents before it), then
 * switches to CPU mode itself, whether or not a page is open. A grant in the
 * meantime cancels the switch.
 */
export class ExhaustionGuard {
  private switchAtMs: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly clock: Clock;

  constructor(private readonly options: ExhaustionGuardOptions) {
    this.clock = options.clock ?? systemClock;
  }

  /** When the forced switch happens (ISO), or null when none is pending. */
  get switchAt(): string | null {
    return this.switchAtMs === null ? null : new Date(this.switchAtMs).toISOString();
  }

  onExhausted(): void {
    if (this.switchAtMs !== null) {
      return;
    }
    const { graceMs } = this.options;
    this.switchAtMs = this.clock.wallMs() + graceMs;
    this.options.log.info('GPU hours exhausted; switching to CPU mode after the grace period', { grace_ms: graceMs });
    this.options.audit('quota.exhausted', { grace_seconds: graceMs / 1000 });
    this.schedule(graceMs);
    this.options.onChange();
  }

  /** Hours were granted: if some are left now, the switch is called off. */
  onGranted(): void {
    if (this.switchAtMs === null || this.options.remainingSeconds() <= 0) {
      return;
    }
    this.options.log.info('hours granted during the exhaustion grace period; staying in GPU mode');
    this.options.audit('quota.exhaustion_cancelled', { remaining_seconds: this.options.remainingSeconds() });
    this.cancel();
    this.options.onChange();
  }

  /** GPU mode went off (by the user or by us): nothing left to enforce. */
  cancel(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.switchAtMs = null;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.options.gpuOn()) {
        this.cancel();
        return;
      }
      // A refusal (busy) is thrown synchronously: turn it into a rejection to retry.
      Promise.resolve().then(() => this.options.switchOff()).then(
        () => this.cancel(),
        (err: Error) => {
          this.options.log.warn('switching to CPU mode after exhaustion did not happen yet; retrying', { error: err.message });
          if (this.switchAtMs !== null) {
            this.schedule(this.options.retryMs);
          }
        }
      );
    }, delayMs);
    this.timer.unref();
  }
}
