import type { HomeSnapshotter } from '../snapshots/port';
import { EventEmitter } from 'node:events';
import type { GpuProfile, GpuStatus, GrantRecord, QuotaStatus } from '@jupyterlab-gpu-workspace/api';
import { GpuProfileConfig, WorkspaceConfig } from '../config/schema';
import { Logger } from '../log';
import { Clock, Ledger, systemClock } from '../quota/ledger';
import { GpuMeter } from '../quota/meter';
import { quotaPolicy } from '../quota/policy';
import { QuotaService } from '../quota/service';
import { ExhaustionGuard } from './exhaustion';
import { DEFAULT_PROFILE, GpuModeController } from './mode';
import { CpuModeEnforcement } from './deviceNodes';
import { probeGpus, queryComputeApps } from './probe';
import { GpuWatchdog } from './watchdog';
import { UtilizationWatch } from './utilization';

/** What the GPU side needs of the Jupyter supervisor. */
export interface GpuServiceOptions {
  /** Whether the operating system keeps the GPU away from kernels in CPU mode. */
  cpuModeEnforcement: CpuModeEnforcement;
  clock?: Clock;
  /** Takes a home snapshot before each GPU switch. */
  snapshotter?: HomeSnapshotter;
}

export interface GpuSupervisor extends EventEmitter {
  setLaunchOverlay(overlay: { env: Record<string, string>; gpuDevices: boolean }): void;
  restart(reason: string): Promise<void>;
  readonly isBusy: boolean;
  readonly isShuttingDown: boolean;
  readonly state: string;
  status(): { pid: number | null };
  /** Whether a process belongs to the workspace (the watchdog stops only those). */
  inWorkspace(pid: number): boolean;
}

/** How soon a forced switch to CPU mode is tried again when a restart was in its way. */
const FORCED_OFF_RETRY_MS = 2000;

function profilesFrom(config: GpuProfileConfig[]): GpuProfile[] {
  if (!config.length) {
    return [DEFAULT_PROFILE];
  }
  return config.map(p => ({ name: p.name, label: p.label ?? p.name, weight: p.weight, devices: p.devices ?? null }));
}

/**
 * The GPU side of the workspace, assembled: the mode state machine, the
 * meter, the quota, the exhaustion guard and the utilisation watch, wired
 * together by their events. Each part has one job; this file only connects them.
 */
export class GpuService extends EventEmitter<{ changed: [] }> {
  readonly mode: GpuModeController;
  readonly meter: GpuMeter;
  readonly quota: QuotaService;
  readonly exhaustion: ExhaustionGuard;
  readonly utilization: UtilizationWatch;
  readonly watchdog: GpuWatchdog;
  private readonly clock: Clock;
  private readonly enforcement: CpuModeEnforcement;

  constructor(
    private readonly config: WorkspaceConfig['gpu'],
    private readonly ledger: Ledger,
    supervisor: GpuSupervisor,
    private readonly log: Logger,
    options: GpuServiceOptions = { cpuModeEnforcement: { enforced: false, reason: 'not checked' } }
  ) {
    super();
    const clock = (this.clock = options.clock ?? systemClock);
    this.enforcement = options.cpuModeEnforcement;
    const changed = (): boolean => this.emit('changed');
    const probe = () => probeGpus(config.nvidia_smi);
    this.quota = new QuotaService(ledger, quotaPolicy(config.quota), config.quota.warn_minutes);
    this.meter = new GpuMeter(ledger, this.quota, config.tick_seconds, log.child('meter'), clock);
    this.mode = new GpuModeController({
      profiles: profilesFrom(config.profiles),
      probe,
      supervisor,
      meter: this.meter,
      store: ledger,
      remainingSeconds: () => this.meter.status().remaining_seconds,
      nextReset: () => this.quota.summary().next_reset,
      snapshotter: options.snapshotter,
      log: log.child('gpu-mode')
    });
    this.exhaustion = new ExhaustionGuard({
      graceMs: config.exhaustion_grace_seconds * 1000,
      retryMs: FORCED_OFF_RETRY_MS,
      remainingSeconds: () => this.meter.status().remaining_seconds,
      switchOff: () => this.mode.requestSwitch(false, undefined, 'system:quota-exhausted', 'quota_exhausted').done,
      gpuOn: () => this.mode.isOn,
      audit: (action, detail) => ledger.audit('system', action, detail),
      onChange: changed,
      log: log.child('quota'),
      clock
    });
    this.utilization = new UtilizationWatch({
      probe,
      pollMs: config.utilization_poll_seconds * 1000,
      idlePercent: config.idle_utilization_percent,
      active: () => this.mode.snapshot().mode === 'on',
      onReading: devices => {
        this.mode.updateDevices(devices);
        changed();
      },
      clock
    });

    this.watchdog = new GpuWatchdog({
      intervalMs: config.watchdog_seconds * 1000,
      computeApps: () => queryComputeApps(config.nvidia_smi),
      inWorkspace: pid => supervisor.inWorkspace(pid),
      active: () => this.mode.snapshot().mode === 'off' && this.mode.snapshot().available,
      audit: (action, detail) => ledger.audit('system', action, detail),
      onStop: changed,
      log: log.child('watchdog')
    });

    supervisor.on('state', (state: string) => this.meter.setJupyterRunning(state === 'running'));
    this.meter.on('charged', changed);
    this.meter.on('exhausted', () => this.exhaustion.onExhausted());
    this.quota.on('granted', () => {
      this.meter.rearm();
      this.exhaustion.onGranted();
      changed();
    });
    this.mode.on('changed', () => {
      if (!this.mode.isOn) {
        this.exhaustion.cancel();
        this.utilization.reset();
      }
      changed();
    });
  }

  /**
   * Before Jupyter's first start: close a session a crash left open, then find
   * the GPUs and restore the saved mode (it decides Jupyter's environment).
   */
  async init(): Promise<void> {
    const recovered = this.ledger.recoverAfterCrash();
    if (recovered.closed) {
      this.log.warn('closed a GPU session left open by a crash; time after its last tick was not charged', recovered);
    }
    await this.mode.init();
    this.utilization.start();
    this.watchdog.start();
  }

  status(): GpuStatus {
    const idleSince = this.utilization.idleSince;
    const snapshot = this.mode.snapshot();
    const idleMs = idleSince === null ? 0 : this.clock.wallMs() - idleSince;
    return {
      ...snapshot,
      idle_since: idleSince === null ? null : new Date(idleSince).toISOString(),
      idle_warning: snapshot.mode === 'on' && idleSince !== null && idleMs >= this.config.idle_warning_minutes * 60_000,
      idle_warning_minutes: this.config.idle_warning_minutes,
      utilization_error: snapshot.mode === 'on' ? this.utilization.readingError : null,
      cpu_mode_enforced: this.enforcement.enforced,
      cpu_mode_reason: this.enforcement.reason,
      watchdog_stopped: this.watchdog.stops,
      exhausted_switch_at: this.exhaustion.switchAt
    };
  }

  quotaStatus(): QuotaStatus {
    return this.meter.status();
  }

  /** A user asks for GPU mode on or off (with a profile); `started` is false when it already is so. */
  requestSwitch(enabled: boolean, profile: string | undefined, actor: string): { started: boolean } {
    return { started: this.mode.requestSwitch(enabled, profile, actor).started };
  }

  /** An operator grants extra hours; the record is in the ledger before this returns. */
  grant(request: { hours: number; reason: string; actor: string }): GrantRecord {
    return this.quota.grant(request);
  }

  /** The sidecar stops (not the user): GPU mode is kept for the next start. */
  stop(): void {
    this.utilization.stop();
    this.watchdog.stop();
    this.exhaustion.cancel();
    this.meter.stop();
  }
}
