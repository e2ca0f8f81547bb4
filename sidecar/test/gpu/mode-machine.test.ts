/**
 * The GPU mode state machine, the exhaustion guard and the utilisation watch
 * on their own, with stand-ins for Jupyter: the order of writes and the
 * failure paths that an integration test cannot force (a full disk).
 */
import type { GpuProfile } from '@jupyterlab-gpu-workspace/api';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, test } from 'node:test';
import { ExhaustionGuard } from '../../src/gpu/exhaustion';
import { GpuModeController, ModeMeter, ModeStore, ModeSupervisor, STATE_MODE } from '../../src/gpu/mode';
import { GpuProbe } from '../../src/gpu/probe';
import { UtilizationWatch } from '../../src/gpu/utilization';
import { createLogger } from '../../src/log';

const quiet = createLogger('error', 'test', () => undefined);
const PROFILE: GpuProfile = { name: 'gpu', label: 'GPU', weight: 1, devices: null };
const ONE_GPU: GpuProbe = {
  available: true,
  reason: null,
  devices: [{ index: 0, uuid: 'GPU-0', name: 'H100', memory_total_mib: 81559, memory_used_mib: 0, utilization_percent: 0 }]
};

/** Records every call, in order, across the stand-ins. */
class Journal {
  entries: string[] = [];
  add(entry: string): void {
    this.entries.push(entry);
  }
}

class FakeSupervisor extends EventEmitter implements ModeSupervisor {
  isBusy = false;
  isShuttingDown = false;
  overlay: Record<string, string> = {};
  restartResult: () => Promise<void> = async () => undefined;
  constructor(private readonly journal: Journal) {
    super();
  }
  setLaunchOverlay(overlay: { env: Record<string, string>; gpuDevices: boolean }): void {
    this.overlay = overlay.env;
    this.gpuDevices = overlay.gpuDevices;
  }
  gpuDevices = false;
  async restart(reason: string): Promise<void> {
    this.journal.add(`restart: ${reason}`);
    this.isBusy = true;
    try {
      await this.restartResult();
    } finally {
      this.isBusy = false;
    }
  }
}

class FakeMeter implements ModeMeter {
  failEnd = false;
  constructor(private readonly journal: Journal) {}
  begin(profile: GpuProfile): void {
    this.journal.add(`meter.begin ${profile.name}`);
  }
  end(): void {
    if (this.failEnd) {
      throw new Error('SQLITE_FULL: database or disk is full');
    }
    this.journal.add('meter.end');
  }
}

class FakeStore implements ModeStore {
  state = new Map<string, string>();
  constructor(private readonly journal: Journal) {}
  getState(key: string): string | null {
    return this.state.get(key) ?? null;
  }
  setState(key: string, value: string): void {
    this.journal.add(`state ${key}=${value}`);
    this.state.set(key, value);
  }
  audit(): void {}
}

function machine(): { mode: GpuModeController; journal: Journal; supervisor: FakeSupervisor; meter: FakeMeter; store: FakeStore } {
  const journal = new Journal();
  const supervisor = new FakeSupervisor(journal);
  const meter = new FakeMeter(journal);
  const store = new FakeStore(journal);
  const mode = new GpuModeController({
    profiles: [PROFILE],
    probe: async () => ONE_GPU,
    supervisor,
    meter,
    store,
    remainingSeconds: () => 3600,
    nextReset: () => null,
    log: quiet
  });
  return { mode, journal, supervisor, meter, store };
}

describe('GPU mode switches', () => {
  test('switching off records CPU mode before the GPU session closes and before Jupyter restarts', async () => {
    const m = machine();
    await m.mode.init();
    await m.mode.requestSwitch(true, undefined, 'alice').done;
    m.journal.entries = [];
    await m.mode.requestSwitch(false, undefined, 'alice').done;
    // A sidecar killed anywhere after the first entry comes back in CPU mode and charges nothing more.
    assert.deepEqual(m.journal.entries.slice(0, 3), [`state ${STATE_MODE}=off`, 'meter.end', 'restart: GPU mode off by alice']);
    assert.equal(m.mode.snapshot().mode, 'off');
  });

  test('switching on records GPU mode only once Jupyter runs with the GPU visible and the meter runs', async () => {
    const m = machine();
    await m.mode.init();
    await m.mode.requestSwitch(true, undefined, 'alice').done;
    assert.deepEqual(m.journal.entries, ['restart: GPU mode on (gpu) by alice', 'meter.begin gpu', `state ${STATE_MODE}=on`, 'state gpu.profile=gpu']);
    assert.equal(m.supervisor.overlay.CUDA_VISIBLE_DEVICES, '0');
  });

  test('a ledger that cannot be written when switching off leaves GPU mode on, says why, and the next switch is not refused as busy', async () => {
    const m = machine();
    await m.mode.init();
    await m.mode.requestSwitch(true, undefined, 'alice').done;
    m.meter.failEnd = true;
    await assert.rejects(m.mode.requestSwitch(false, undefined, 'alice').done, /disk is full/);
    const after = m.mode.snapshot();
    assert.equal(after.mode, 'on', 'never stuck at "switching"');
    assert.equal(after.target, null);
    assert.match(after.last_error ?? '', /ledger could not be written/);
    assert.equal(m.store.getState(STATE_MODE), 'on');
    m.meter.failEnd = false;
    const retry = m.mode.requestSwitch(false, undefined, 'alice');
    assert.equal(retry.started, true);
    await retry.done;
    assert.equal(m.mode.snapshot().mode, 'off');
    assert.equal(m.mode.snapshot().last_error, null);
  });

  test('a switch on whose restart fails ends in CPU mode with the reason, and the GPU hidden again', async () => {
    const m = machine();
    await m.mode.init();
    m.supervisor.restartResult = async () => {
      throw new Error('Jupyter stopped during start-up (exited with code 1).');
    };
    await assert.rejects(m.mode.requestSwitch(true, undefined, 'alice').done, /start-up/);
    assert.equal(m.mode.snapshot().mode, 'off');
    assert.match(m.mode.snapshot().last_error ?? '', /could not be turned on: Jupyter stopped/);
    assert.equal(m.supervisor.overlay.CUDA_VISIBLE_DEVICES, '', 'the crash restart that follows comes up without the GPU');
    assert.ok(!m.journal.entries.includes('meter.begin gpu'), 'nothing was metered');
  });

  test('a switch is refused at once while a restart runs, and while the sidecar stops', async () => {
    const m = machine();
    await m.mode.init();
    m.supervisor.isBusy = true;
    assert.throws(() => m.mode.requestSwitch(true, undefined, 'alice'), (e: { code?: string }) => e.code === 'busy');
    m.supervisor.isBusy = false;
    m.supervisor.isShuttingDown = true;
    assert.throws(() => m.mode.requestSwitch(true, undefined, 'alice'), (e: { code?: string }) => e.code === 'stopping');
  });
});

describe('exhaustion', () => {
  function guard(remaining: { seconds: number }) {
    const switched: string[] = [];
    const audits: string[] = [];
    const g = new ExhaustionGuard({
      graceMs: 60_000,
      retryMs: 2000,
      remainingSeconds: () => remaining.seconds,
      switchOff: async () => void switched.push('off'),
      gpuOn: () => true,
      audit: action => audits.push(action),
      onChange: () => undefined,
      log: quiet
    });
    return { g, switched, audits };
  }

  test('the sidecar switches to CPU mode itself when the grace period ends', t => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { g, switched } = guard({ seconds: 0 });
    g.onExhausted();
    assert.ok(g.switchAt, 'the switch time is announced to the pages');
    t.mock.timers.tick(60_000);
    return new Promise<void>(resolve => setImmediate(() => {
      assert.deepEqual(switched, ['off']);
      resolve();
    }));
  });

  test('a grant during the grace period calls the switch off', t => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const remaining = { seconds: 0 };
    const { g, switched, audits } = guard(remaining);
    g.onExhausted();
    remaining.seconds = 5 * 3600;
    g.onGranted();
    assert.equal(g.switchAt, null);
    t.mock.timers.tick(120_000);
    return new Promise<void>(resolve => setImmediate(() => {
      assert.deepEqual(switched, [], 'no forced switch after a grant');
      assert.deepEqual(audits, ['quota.exhausted', 'quota.exhaustion_cancelled']);
      resolve();
    }));
  });

  test('a switch refused because a restart is running is tried again', t => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let attempts = 0;
    const g = new ExhaustionGuard({
      graceMs: 1000,
      retryMs: 500,
      remainingSeconds: () => 0,
      switchOff: () => {
        attempts += 1;
        if (attempts === 1) {
          throw Object.assign(new Error('busy'), { code: 'busy' });
        }
        return Promise.resolve();
      },
      gpuOn: () => true,
      audit: () => undefined,
      onChange: () => undefined,
      log: quiet
    });
    g.onExhausted();
    t.mock.timers.tick(1000);
    return new Promise<void>(resolve =>
      setImmediate(() => {
        t.mock.timers.tick(500);
        setImmediate(() => {
          assert.equal(attempts, 2);
          resolve();
        });
      })
    );
  });
});

describe('GPU utilisation', () => {
  test('a failing nvidia-smi is "unknown", never 0 %: it ends an idle stretch and is reported', async () => {
    let probe: GpuProbe = ONE_GPU;
    const watch = new UtilizationWatch({ probe: async () => probe, pollMs: 1000, idlePercent: 5, active: () => true, onReading: () => undefined });
    await watch.poll();
    assert.notEqual(watch.idleSince, null, 'an idle GPU starts an idle stretch');
    probe = { available: false, reason: 'nvidia-smi did not answer within 10 s.', devices: [] };
    await watch.poll();
    assert.equal(watch.idleSince, null);
    assert.match(watch.readingError ?? '', /did not answer/);
  });

  test('a board that reports no utilisation ("[N/A]") does not count as idle', async () => {
    const na: GpuProbe = { ...ONE_GPU, devices: [{ ...ONE_GPU.devices[0], utilization_percent: null }] };
    const watch = new UtilizationWatch({ probe: async () => na, pollMs: 1000, idlePercent: 5, active: () => true, onReading: () => undefined });
    await watch.poll();
    assert.equal(watch.idleSince, null);
  });
});

