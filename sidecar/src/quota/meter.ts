import { EventEmitter } from 'node:events';
import type { GpuProfile, QuotaStatus } from '@jupyterlab-gpu-workspace/api';
import { Logger } from '../log';
import { Clock, Ledger, systemClock } from './ledger';
import { QuotaService } from './service';

export interface MeterEvents {
  /** A tick was written or charging started or stopped (the quota changed). */
  charged: [];
  /** The period's allocation is used up while metering. Emitted once per exhaustion. */
  exhausted: [];
}

/**
 * Meters GPU time into the ledger while GPU mode is on. It charges only while
 * Jupyter runs: during a restart, a failed start or a crash loop nothing can
 * use the GPU, so nothing is charged, and a GPU session in the ledger opens
 * only once Jupyter runs with the GPU visible. Ticks are written every
 * `tickSeconds`, so a killed sidecar loses or overcharges at most one.
 */
export class GpuMeter extends EventEmitter<MeterEvents> {
  /** What GPU mode meters; null when it is off. */
  private profile: GpuProfile | null = null;
  private actor = 'system';
  /** Whether this meter has a session open in the ledger. */
  private sessionOpen = false;
  private jupyterRunning = false;
  private lastChargeMono = 0;
  private timer: NodeJS.Timeout | null = null;
  private exhaustedSignalled = false;

  constructor(
    private readonly ledger: Ledger,
    private readonly quota: QuotaService,
    private readonly tickSeconds: number,
    private readonly log: Logger,
    private readonly clock: Clock = systemClock
  ) {
    super();
  }

  /** True while GPU time is being charged right now. */
  get charging(): boolean {
    return this.sessionOpen && this.jupyterRunning && this.profile !== null;
  }

  /**
   * GPU mode is on with this profile: charging starts now if Jupyter runs,
   * else once it does. Throws if the ledger cannot be written.
   */
  begin(profile: GpuProfile, actor: string): void {
    this.profile = profile;
    this.actor = actor;
    this.exhaustedSignalled = false;
    if (this.jupyterRunning) {
      this.openSession();
    }
    this.timer ??= setInterval(() => this.onTick(), this.tickSeconds * 1000);
    this.timer.unref();
  }

  /**
   * GPU mode goes off: charges up to now (never past the allocation) and
   * closes the session. Throws if the ledger cannot be written; the session
   * then stays open and metering goes on, so no GPU time escapes the ledger.
   */
  end(actor: string, reason: string): void {
    if (this.sessionOpen) {
      this.closeSession(actor, reason);
    }
    this.clearTimer();
    this.profile = null;
  }

  /** Jupyter started or stopped running: charge what ran, and nothing while it is down. */
  setJupyterRunning(running: boolean): void {
    if (running === this.jupyterRunning) {
      return;
    }
    if (!running && this.charging) {
      this.chargeSafely();
    }
    this.jupyterRunning = running;
    if (running && this.profile) {
      if (this.sessionOpen) {
        this.ledger.skipToNow();
        this.lastChargeMono = this.clock.monoMs();
      } else {
        this.openSessionSafely();
      }
    }
    this.emit('charged');
  }

  /** GPU seconds used since the last tick and not yet written. */
  pendingSeconds(): number {
    if (!this.charging || !this.profile) {
      return 0;
    }
    return ((this.clock.monoMs() - this.lastChargeMono) / 1000) * this.profile.weight;
  }

  /** The quota as of now, including time not yet written by a tick. */
  status(): QuotaStatus {
    const summary = this.quota.summary();
    const used = summary.used_seconds + this.pendingSeconds();
    return {
      ...summary,
      used_seconds: used,
      remaining_seconds: Math.max(0, summary.allocation_seconds - used),
      burn_rate: this.charging && this.profile ? this.profile.weight : 0,
      warn_minutes: this.quota.warnMinutes
    };
  }

  /** Exhaustion may be signalled again (after a grant lifted it). */
  rearm(): void {
    this.exhaustedSignalled = false;
  }

  /**
   * The sidecar stops (not the user): the session is closed as of now, and
   * the mode, kept elsewhere, brings a new one at the next start.
   */
  stop(): void {
    this.clearTimer();
    if (this.sessionOpen) {
      try {
        this.closeSession('system', 'sidecar stopped');
      } catch (err) {
        // The next start closes it at its last tick.
        this.log.error('could not close the GPU session while stopping', { error: (err as Error).message });
      }
    }
  }

  private openSession(): void {
    if (!this.profile) {
      return;
    }
    this.ledger.openSession({ profile: this.profile.name, weight: this.profile.weight, actor: this.actor });
    this.sessionOpen = true;
    this.lastChargeMono = this.clock.monoMs();
  }

  private openSessionSafely(): void {
    try {
      this.openSession();
    } catch (err) {
      // Retried at every tick until the ledger can be written again.
      this.log.error('could not open a GPU session in the ledger', { error: (err as Error).message });
    }
  }

  private closeSession(actor: string, reason: string): void {
    if (!this.jupyterRunning) {
      this.ledger.skipToNow();
    }
    const cap = this.jupyterRunning ? this.quota.remainingSeconds() : 0;
    this.ledger.closeSession({ actor, reason, maxChargeSeconds: cap });
    this.sessionOpen = false;
  }

  private clearTimer(): void {
    if (this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private chargeSafely(): boolean {
    try {
      this.ledger.tick(this.quota.remainingSeconds());
      this.lastChargeMono = this.clock.monoMs();
      return true;
    } catch (err) {
      // The interval stays uncharged in memory and the next tick writes it.
      this.log.error('GPU metering tick failed', { error: (err as Error).message });
      return false;
    }
  }

  private onTick(): void {
    if (this.profile && this.jupyterRunning && !this.sessionOpen) {
      this.openSessionSafely();
    }
    if (!this.charging || !this.chargeSafely()) {
      return;
    }
    this.emit('charged');
    if (!this.exhaustedSignalled && this.quota.remainingSeconds() <= 0) {
      this.exhaustedSignalled = true;
      this.emit('exhausted');
    }
  }
}
