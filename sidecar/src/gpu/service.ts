import { EventEmitter } from 'node:events';
import { GpuProfileConfig, WorkspaceConfig } from '../config/schema';
import { badRequest, WorkspaceError } from '../errors';
import { GpuDevice, GpuProbe, probeGpus } from './probe';
import { Clock, Ledger, QuotaSummary, systemClock } from '../quota/ledger';
import { Logger } from '../log';
import { parsePeriod, QuotaPeriod } from '../quota/periods';
import { JupyterSupervisor } from '../jupyter/supervisor';

export type GpuMode = 'on' | 'off' | 'switching';

export interface GpuProfile {
  name: string;
  label: string;
  weight: number;
  devices: string | null;
}

export interface GpuStatus {
  available: boolean;
  reason: string | null;
  mode: GpuMode;
  /** The mode a switch in progress goes to. */
  target: 'on' | 'off' | null;
  devices: GpuDevice[];
  profile: string | null;
  profiles: GpuProfile[];
  /** Since when every GPU has been under the idle threshold while GPU mode is on (ISO), else null. */
  idle_since: string | null;
  idle_warning: boolean;
  idle_warning_minutes: number;
  /** Set when the hours ran out and the sidecar will switch to CPU mode at this time (ISO). */
  exhausted_switch_at: string | null;
}

export interface QuotaStatus extends QuotaSummary {
  /** GPU seconds charged per second right now (the profile's weight while on, else 0). */
  burn_rate: number;
  warn_minutes: number[];
}

const STATE_MODE = 'gpu.mode';
/** How soon a forced switch to CPU mode is tried again when a restart was in its way. */
const FORCED_OFF_RETRY_MS = 2000;
const STATE_PROFILE = 'gpu.profile';

export const DEFAULT_PROFILE: GpuProfile = { name: 'gpu', label: 'GPU', weight: 1, devices: null };

function profilesFrom(config: GpuProfileConfig[]): GpuProfile[] {
  if (!config.length) {
    return [DEFAULT_PROFILE];
  }
  return config.map(p => ({ name: p.name, label: p.label ?? p.name, weight: p.weight, devices: p.devices ?? null }));
}

/**
 * GPU mode and its metering. The mode lives in the ledger's state table so it
 * survives a sidecar restart; switching restarts Jupyter with the GPUs visible
 * or hidden. While the mode is on, GPU time is charged every tick; at zero the
 * page is given a short grace to save and switch, then the sidecar switches.
 */
export class GpuService extends EventEmitter {
  private probe: GpuProbe = { available: false, reason: 'GPUs have not been looked for yet.', devices: [] };
  private mode: GpuMode = 'off';
  private target: 'on' | 'off' | null = null;
  private profile: GpuProfile | null = null;
  private readonly profiles: GpuProfile[];
  private readonly period: QuotaPeriod;
  private readonly anchorMs: number;
  private lastChargeMono = 0;
  private idleSinceWall: number | null = null;
  private exhaustedSwitchAt: number | null = null;
  private tickTimer: NodeJS.Timeout | null = null;
  private utilTimer: NodeJS.Timeout | null = null;
  private exhaustionTimer: NodeJS.Timeout | null = null;
  /** Stops waiting for Jupyter's first start to resume a restored GPU mode. */
  private stopRestore: () => void = () => undefined;

  constructor(
    private readonly config: WorkspaceConfig['gpu'],
    private readonly ledger: Ledger,
    private readonly supervisor: JupyterSupervisor,
    private readonly log: Logger,
    private readonly clock: Clock = systemClock
  ) {
    super();
    this.profiles = profilesFrom(config.profiles);
    this.period = parsePeriod(config.quota.period);
    this.anchorMs = Date.parse(config.quota.period_anchor);
  }

  /**
   * Before Jupyter's first start: find the GPUs, close a session a crash left
   * open, and restore the saved mode (if the GPU is still there and hours are left).
   */
  async init(): Promise<void> {
    this.probe = await probeGpus(this.config.nvidia_smi);
    const recovered = this.ledger.recoverAfterCrash();
    if (recovered.closed) {
      this.log.warn('closed a GPU session left open by a crash; time after its last tick was not charged', recovered);
    }
    const saved = this.ledger.getState(STATE_MODE);
    const savedProfile = this.ledger.getState(STATE_PROFILE);
    // The operator may have renamed or removed the saved profile since: fall back to the default one.
    const profile = this.profiles.find(p => p.name === savedProfile) ?? this.profiles[0];
    if (saved === 'on') {
      const refusal = this.refusalToEnable();
      if (refusal) {
        this.log.warn('GPU mode was on but cannot be restored', { reason: refusal.message });
        this.ledger.setState(STATE_MODE, 'off');
        this.ledger.audit('system', 'gpu.restore_refused', { reason: refusal.message });
      } else {
        // As after a switch, GPU time counts from when Jupyter runs with the GPU visible, not while it starts.
        this.mode = 'switching';
        this.target = 'on';
        this.profile = profile;
        const onState = (state: string): void => {
          if (state === 'running') {
            this.stopRestore();
            this.target = null;
            this.beginMetering(profile, 'system:restore');
            this.emit('changed');
          }
        };
        this.supervisor.on('state', onState);
        this.stopRestore = () => {
          this.supervisor.off('state', onState);
          this.stopRestore = () => undefined;
        };
      }
    }
    this.applyEnv();
    this.startUtilizationPolling();
  }

  stop(): void {
    this.stopRestore();
    for (const t of [this.tickTimer, this.utilTimer, this.exhaustionTimer]) {
      if (t) {
        clearInterval(t);
        clearTimeout(t);
      }
    }
    this.tickTimer = this.utilTimer = this.exhaustionTimer = null;
    if (this.mode === 'on') {
      // The sidecar is stopping, not the user: charge up to now but keep the mode for the next start.
      this.ledger.closeSession({ actor: 'system', reason: 'sidecar stopped', maxChargeSeconds: this.remainingToCharge() });
    }
  }

  status(): GpuStatus {
    const idleMs = this.idleSinceWall === null ? 0 : this.clock.wallMs() - this.idleSinceWall;
    return {
      available: this.probe.available,
      reason: this.probe.reason,
      mode: this.mode,
      target: this.target,
      devices: this.probe.devices,
      profile: this.profile?.name ?? null,
      profiles: this.profiles,
      idle_since: this.idleSinceWall === null ? null : new Date(this.idleSinceWall).toISOString(),
      idle_warning: this.mode === 'on' && idleMs >= this.config.idle_warning_minutes * 60_000,
      idle_warning_minutes: this.config.idle_warning_minutes,
      exhausted_switch_at: this.exhaustedSwitchAt === null ? null : new Date(this.exhaustedSwitchAt).toISOString()
    };
  }

  /** The quota as of now, including time not yet written by a tick. */
  quota(): QuotaStatus {
    const summary = this.ledger.summary({ hours: this.config.quota.hours, period: this.period, anchorMs: this.anchorMs });
    const pending = this.pendingSeconds();
    const used = summary.used_seconds + pending;
    return {
      ...summary,
      used_seconds: used,
      remaining_seconds: Math.max(0, summary.allocation_seconds - used),
      burn_rate: this.mode === 'on' && this.profile ? this.profile.weight : 0,
      warn_minutes: [...this.config.quota.warn_minutes].sort((a, b) => b - a)
    };
  }

  /** Switches GPU mode; resolves once Jupyter runs in the new mode. */
  async setMode(enabled: boolean, profileName: string | undefined, actor: string): Promise<void> {
    if (this.mode === 'switching' || this.supervisor.isBusy) {
      throw new WorkspaceError(409, 'A GPU switch or server restart is already in progress. Wait for it to finish.', 'switching');
    }
    const profile = this.findProfile(profileName);
    if (enabled) {
      const refusal = this.refusalToEnable();
      if (refusal) {
        throw refusal;
      }
      if (this.mode === 'on' && this.profile?.name === profile.name) {
        return;
      }
    } else if (this.mode === 'off') {
      return;
    }
    const from = this.mode;
    this.mode = 'switching';
    this.target = enabled ? 'on' : 'off';
    this.emit('changed');
    try {
      if (from === 'on') {
        this.endMetering(actor, enabled ? 'profile change' : 'switched off');
      }
      this.profile = enabled ? profile : null;
      this.applyEnv();
      await this.supervisor.restart(enabled ? `GPU mode on (${profile.name}) by ${actor}` : `GPU mode off by ${actor}`);
      if (enabled) {
        this.beginMetering(profile, actor);
      } else {
        this.ledger.setState(STATE_MODE, 'off');
        this.mode = 'off';
      }
    } catch (err) {
      // Jupyter did not come back in the new mode: record the mode its environment now has, so
      // metering follows what kernels can use, and let the supervisor's crash back-off retry.
      if (enabled) {
        this.beginMetering(profile, actor);
      } else {
        this.ledger.setState(STATE_MODE, 'off');
        this.mode = 'off';
      }
      throw err;
    } finally {
      this.target = null;
      this.emit('changed');
    }
  }

  private findProfile(name: string | undefined): GpuProfile {
    if (name === undefined) {
      return this.profile ?? this.profiles[0];
    }
    const found = this.profiles.find(p => p.name === name);
    if (!found) {
      throw badRequest(`Unknown GPU profile "${name}". Choose one of: ${this.profiles.map(p => p.name).join(', ')}.`);
    }
    return found;
  }

  private refusalToEnable(): WorkspaceError | null {
    if (!this.probe.available) {
      return new WorkspaceError(409, `GPU mode is not available: ${this.probe.reason}`, 'gpu_unavailable');
    }
    const quota = this.quota();
    if (quota.remaining_seconds <= 0) {
      const when = quota.next_reset ? ` Your hours reset at ${quota.next_reset}.` : '';
      return new WorkspaceError(
        409,
        `No GPU hours are left in this period.${when} Ask your instructor or administrator for more hours.`,
        'quota_exhausted'
      );
    }
    return null;
  }

  private applyEnv(): void {
    const on = this.mode === 'on' || this.target === 'on';
    const profile = this.profile ?? this.profiles[0];
    const visible = profile.devices ?? this.probe.devices.map(d => String(d.index)).join(',');
    this.supervisor.setEnvOverlay(
      on
        ? { CUDA_VISIBLE_DEVICES: visible, NVIDIA_VISIBLE_DEVICES: visible || 'all', GPU_WORKSPACE_GPU_MODE: 'on' }
        : // An empty CUDA_VISIBLE_DEVICES hides every GPU from CUDA; "void" is the container runtime's word for none.
          { CUDA_VISIBLE_DEVICES: '', NVIDIA_VISIBLE_DEVICES: 'void', GPU_WORKSPACE_GPU_MODE: 'off' }
    );
  }

  private beginMetering(profile: GpuProfile, actor: string): void {
    this.profile = profile;
    this.ledger.openSession({ profile: profile.name, weight: profile.weight, actor });
    this.ledger.setState(STATE_MODE, 'on');
    this.ledger.setState(STATE_PROFILE, profile.name);
    this.mode = 'on';
    this.lastChargeMono = this.clock.monoMs();
    this.idleSinceWall = null;
    this.tickTimer = setInterval(() => this.onTick(), this.config.tick_seconds * 1000);
    this.tickTimer.unref();
  }

  private endMetering(actor: string, reason: string): void {
    if (this.tickTimer) {
      clearInterval(this.tickTimer);
      this.tickTimer = null;
    }
    if (this.exhaustionTimer) {
      clearTimeout(this.exhaustionTimer);
      this.exhaustionTimer = null;
    }
    this.exhaustedSwitchAt = null;
    this.idleSinceWall = null;
    // The session's last tick is capped like every other: nothing is charged past the allocation.
    this.ledger.closeSession({ actor, reason, maxChargeSeconds: this.remainingToCharge() });
  }

  private pendingSeconds(): number {
    if (this.mode !== 'on' || !this.profile) {
      return 0;
    }
    return ((this.clock.monoMs() - this.lastChargeMono) / 1000) * this.profile.weight;
  }

  /** Writes the time since the last tick, never past the allocation. */
  private charge(): void {
    this.ledger.tick(this.remainingToCharge());
    this.lastChargeMono = this.clock.monoMs();
  }

  /** What the ledger may still charge in this period. */
  private remainingToCharge(): number {
    const summary = this.ledger.summary({ hours: this.config.quota.hours, period: this.period, anchorMs: this.anchorMs });
    return Math.max(0, summary.allocation_seconds - summary.used_seconds);
  }

  private onTick(): void {
    try {
      this.charge();
    } catch (err) {
      this.log.error('GPU metering tick failed', { error: (err as Error).message });
      return;
    }
    if (this.quota().remaining_seconds <= 0 && this.exhaustedSwitchAt === null && this.mode === 'on') {
      this.onExhausted();
    }
    this.emit('changed');
  }

  private onExhausted(): void {
    const graceMs = this.config.exhaustion_grace_seconds * 1000;
    this.exhaustedSwitchAt = this.clock.wallMs() + graceMs;
    this.log.info('GPU hours exhausted; switching to CPU mode after the grace period', { grace_ms: graceMs });
    this.ledger.audit('system', 'quota.exhausted', { grace_seconds: this.config.exhaustion_grace_seconds });
    this.scheduleForcedOff(graceMs);
  }

  /** Switches to CPU mode for the exhausted quota; a switch or restart in the way is waited out, not given up on. */
  private scheduleForcedOff(delayMs: number): void {
    this.exhaustionTimer = setTimeout(() => {
      this.exhaustionTimer = null;
      if (this.mode === 'off') {
        return;
      }
      if (this.mode === 'switching' || this.supervisor.isBusy) {
        this.scheduleForcedOff(FORCED_OFF_RETRY_MS);
        return;
      }
      this.setMode(false, undefined, 'system:quota-exhausted').catch(err => {
        this.log.error('switching to CPU mode after exhaustion failed; retrying', { error: (err as Error).message });
        if (this.mode === 'on') {
          this.scheduleForcedOff(FORCED_OFF_RETRY_MS);
        }
      });
    }, delayMs);
    this.exhaustionTimer.unref();
  }

  private startUtilizationPolling(): void {
    const poll = async (): Promise<void> => {
      if (this.mode !== 'on') {
        return;
      }
      const probe = await probeGpus(this.config.nvidia_smi);
      if (probe.available) {
        this.probe = probe;
      }
      const busiest = Math.max(0, ...probe.devices.map(d => d.utilization_percent));
      if (busiest < this.config.idle_utilization_percent) {
        this.idleSinceWall ??= this.clock.wallMs();
      } else {
        this.idleSinceWall = null;
      }
      this.emit('changed');
    };
    this.utilTimer = setInterval(() => void poll().catch(() => undefined), this.config.utilization_poll_seconds * 1000);
    this.utilTimer.unref();
  }
}
