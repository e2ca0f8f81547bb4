import { EventEmitter } from 'node:events';
import type { HomeSnapshotter } from '../snapshots/port';
import type { GpuDevice, GpuMode, GpuProfile, GpuStatus, GpuSwitchReason } from '@jupyterlab-gpu-workspace/api';
import { badRequest, busy, stopping, WorkspaceError } from '../errors';
import { Logger } from '../log';
import { gpuEnvironment } from './localBackend';
import { GpuProbe } from './probe';

/** What the mode needs of the Jupyter supervisor. */
export interface ModeSupervisor {
  setLaunchOverlay(overlay: { env: Record<string, string>; gpuDevices: boolean }): void;
  restart(reason: string): Promise<void>;
  readonly isBusy: boolean;
  readonly isShuttingDown: boolean;
}

/** What the mode needs of the GPU meter. */
export interface ModeMeter {
  begin(profile: GpuProfile, actor: string): void;
  end(actor: string, reason: string): void;
}

/** Where the mode is kept across sidecar restarts, and where switches are audited. */
export interface ModeStore {
  getState(key: string): string | null;
  setState(key: string, value: string): void;
  audit(actor: string, action: string, detail: object): void;
}

export interface GpuModeOptions {
  profiles: GpuProfile[];
  probe: () => Promise<GpuProbe>;
  supervisor: ModeSupervisor;
  meter: ModeMeter;
  store: ModeStore;
  /** GPU seconds left in this period, counting what is not yet written. */
  remainingSeconds: () => number;
  /** When the allocation resets (ISO), for the refusal message. */
  nextReset: () => string | null;
  /** Takes a home snapshot (trigger "gpu-switch") before the server restarts; absent: none is taken. */
  snapshotter?: HomeSnapshotter;
  log: Logger;
}

/** The part of the GPU status the mode owns (the rest comes from its neighbours). */
export type ModeSnapshot = Pick<
  GpuStatus,
  'available' | 'reason' | 'mode' | 'target' | 'switch_reason' | 'last_error' | 'devices' | 'profile' | 'profiles'
>;

export interface SwitchRequest {
  /** False when the workspace already is in the asked-for mode: nothing runs. */
  started: boolean;
  /** Settles when the switch ended; rejects with why it failed (also kept in `last_error`). */
  done: Promise<void>;
}

export const STATE_MODE = 'gpu.mode';
export const STATE_PROFILE = 'gpu.profile';
export const DEFAULT_PROFILE: GpuProfile = { name: 'gpu', label: 'GPU', weight: 1, devices: null };

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * GPU mode as a state machine: off → switching → on and back, one switch at a
 * time. The mode is kept in the ledger's state table so it survives a sidecar
 * restart, and written so that a sidecar killed at any moment comes back in a
 * mode that charges only for what ran: CPU mode is recorded before the GPU
 * session closes, GPU mode only once Jupyter runs with the GPU visible.
 */
export class GpuModeController extends EventEmitter<{ changed: [] }> {
  private probe: GpuProbe = { available: false, reason: 'GPUs have not been looked for yet.', devices: [] };
  private mode: GpuMode = 'off';
  private target: 'on' | 'off' | null = null;
  private profile: GpuProfile | null = null;
  private switchReason: GpuSwitchReason | null = null;
  private lastError: string | null = null;

  constructor(private readonly options: GpuModeOptions) {
    super();
    if (!options.profiles.length) {
      throw new Error('GpuModeController needs at least one profile');
    }
  }

  get isOn(): boolean {
    return this.mode === 'on' || this.target === 'on';
  }

  /**
   * Before Jupyter's first start: find the GPUs and restore the saved mode if
   * the GPU is still there and hours are left. Metering starts once Jupyter runs.
   */
  async init(): Promise<void> {
    const o = this.options;
    this.probe = await o.probe();
    const savedProfile = o.store.getState(STATE_PROFILE);
    // The operator may have renamed or removed the saved profile since: fall back to the first one.
    const profile = o.profiles.find(p => p.name === savedProfile) ?? o.profiles[0];
    if (o.store.getState(STATE_MODE) === 'on') {
      const refusal = this.refusalToEnable();
      if (refusal) {
        o.log.warn('GPU mode was on but cannot be restored', { reason: refusal.message });
        o.store.setState(STATE_MODE, 'off');
        o.store.audit('system', 'gpu.restore_refused', { reason: refusal.message });
      } else {
        o.meter.begin(profile, 'system:restore');
        this.profile = profile;
        this.mode = 'on';
      }
    }
    this.applyEnvironment(this.mode === 'on', profile);
  }

  snapshot(): ModeSnapshot {
    return {
      available: this.probe.available,
      reason: this.probe.reason,
      mode: this.mode,
      target: this.target,
      switch_reason: this.switchReason,
      last_error: this.lastError,
      devices: this.probe.devices,
      profile: this.profile?.name ?? null,
      profiles: this.options.profiles
    };
  }

  /** Fresh device readings (utilisation, memory) for the status. */
  updateDevices(devices: GpuDevice[]): void {
    this.probe = { ...this.probe, devices };
  }

  /**
   * Starts a switch and returns at once; refuses synchronously (throws a
   * WorkspaceError) when it cannot start: busy, stopping, no GPU, no hours,
   * an unknown profile.
   */
  requestSwitch(enabled: boolean, profileName: string | undefined, actor: string, reason: GpuSwitchReason = 'user'): SwitchRequest {
    const o = this.options;
    if (o.supervisor.isShuttingDown) {
      throw stopping();
    }
    if (this.mode === 'switching' || o.supervisor.isBusy) {
      throw busy('A GPU switch or server restart is already in progress. Wait for it to finish.');
    }
    const profile = this.findProfile(profileName);
    if (enabled) {
      const refusal = this.refusalToEnable();
      if (refusal) {
        throw refusal;
      }
      if (this.mode === 'on' && this.profile?.name === profile.name) {
        return { started: false, done: Promise.resolve() };
      }
    } else if (this.mode === 'off') {
      return { started: false, done: Promise.resolve() };
    }
    const done = this.runSwitch(enabled, profile, actor, reason);
    // The caller may not wait; the outcome is in the status and the log either way.
    done.catch(err => o.log.warn('GPU switch failed', { error: messageOf(err), enabled, actor }));
    return { started: true, done };
  }

  private async runSwitch(enabled: boolean, profile: GpuProfile, actor: string, reason: GpuSwitchReason): Promise<void> {
    const o = this.options;
    const from = this.mode;
    this.mode = 'switching';
    this.target = enabled ? 'on' : 'off';
    this.switchReason = reason;
    this.lastError = null;
    this.emit('changed');
    try {
      if (from === 'on') {
        this.leaveGpuMode(actor, enabled ? 'profile change' : reason === 'user' ? 'switched off' : reason);
      }
      if (o.snapshotter) {
        // After metering stops (the snapshot is never charged as GPU time), before kernels go away.
        // A snapshot that cannot be taken never holds the switch back: it is logged instead.
        const outcome = await o.snapshotter.snapshotFor('gpu-switch');
        if (!outcome.taken) {
          o.log.warn('no snapshot before the GPU switch', { reason: outcome.reason });
        }
      }
      this.profile = enabled ? profile : null;
      this.applyEnvironment(enabled, profile);
      const why = enabled ? `GPU mode on (${profile.name}) by ${actor}` : `GPU mode off by ${actor}`;
      try {
        await o.supervisor.restart(why);
      } catch (err) {
        // Whatever the target, a server that did not come back comes back (crash back-off) in CPU
        // mode: no GPU time is charged while nobody can use it, and CPU mode is always allowed.
        this.profile = null;
        this.applyEnvironment(false, profile);
        this.mode = 'off';
        this.lastError = enabled
          ? `GPU mode could not be turned on: ${messageOf(err)}`
          : `The Jupyter server did not come back after switching to CPU mode: ${messageOf(err)}`;
        throw err;
      }
      if (enabled) {
        this.enterGpuMode(profile, actor);
      } else {
        this.mode = 'off';
      }
    } finally {
      this.target = null;
      this.emit('changed');
    }
  }

  /**
   * Records CPU mode first, then closes the GPU session: a sidecar killed in
   * between restores CPU mode and charges nothing more. If the ledger cannot
   * be written (a full disk), GPU mode stays on and metered, and the switch fails.
   */
  private leaveGpuMode(actor: string, why: string): void {
    const o = this.options;
    try {
      o.store.setState(STATE_MODE, 'off');
      o.meter.end(actor, why);
    } catch (err) {
      try {
        o.store.setState(STATE_MODE, 'on');
      } catch {
        // The ledger is unwritable; the open session still says GPU mode was on.
      }
      this.mode = 'on';
      this.lastError = `GPU mode could not be switched off: the GPU-hours ledger could not be written (${messageOf(err)}).`;
      throw new WorkspaceError(500, this.lastError, 'internal');
    }
  }

  /** Jupyter runs with the GPU visible: meter it, then record GPU mode. */
  private enterGpuMode(profile: GpuProfile, actor: string): void {
    const o = this.options;
    try {
      o.meter.begin(profile, actor);
      o.store.setState(STATE_MODE, 'on');
      o.store.setState(STATE_PROFILE, profile.name);
      this.mode = 'on';
    } catch (err) {
      // Unmetered GPU use must not happen: hide the GPU again.
      this.profile = null;
      this.applyEnvironment(false, profile);
      this.mode = 'off';
      this.lastError = `GPU mode could not be turned on: the GPU-hours ledger could not be written (${messageOf(err)}).`;
      o.supervisor.restart('GPU mode could not be metered').catch(() => undefined);
      throw new WorkspaceError(500, this.lastError, 'internal');
    }
  }

  private applyEnvironment(on: boolean, profile: GpuProfile): void {
    this.options.supervisor.setLaunchOverlay({ env: gpuEnvironment(on, profile, this.probe.devices), gpuDevices: on });
  }

  private findProfile(name: string | undefined): GpuProfile {
    const { profiles } = this.options;
    if (name === undefined) {
      return this.profile ?? profiles[0];
    }
    const found = profiles.find(p => p.name === name);
    if (!found) {
      throw badRequest(`Unknown GPU profile "${name}". Choose one of: ${profiles.map(p => p.name).join(', ')}.`);
    }
    return found;
  }

  private refusalToEnable(): WorkspaceError | null {
    if (!this.probe.available) {
      return new WorkspaceError(409, `GPU mode is not available: ${this.probe.reason}`, 'gpu_unavailable');
    }
    if (this.options.remainingSeconds() <= 0) {
      const reset = this.options.nextReset();
      const when = reset ? ` Your hours reset at ${reset}.` : '';
      return new WorkspaceError(
        409,
        `No GPU hours are left in this period.${when} Ask your instructor or administrator for more hours.`,
        'quota_exhausted'
      );
    }
    return null;
  }
}
