/**
 * Wrong states a real sidecar must never reach: a second sidecar on the same
 * state directory, a kill in the middle of switching GPU mode off, a failing
 * nvidia-smi while GPU mode is on.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FAKE_NVIDIA_SMI, FakeGpu, getUsage, gpuStatus, makeFakeGpu, postGpu, switchGpu, waitForSwitchEnd } from '../support/gpu';
import {
  descendants,
  fetchJson,
  isRunning,
  makeTempDirs,
  processesMentioning,
  runUntilExit,
  Sidecar,
  SidecarOptions,
  startKernel,
  startSidecar,
  TempDirs,
  tokenHeader,
  waitFor
} from '../support/sidecar';

let dirs: TempDirs;
let fakeGpu: FakeGpu;
const running: Sidecar[] = [];

const CONFIG = {
  api: { identity_cache_seconds: 300 },
  gpu: { nvidia_smi: FAKE_NVIDIA_SMI, tick_seconds: 0.5, utilization_poll_seconds: 0.2, idle_warning_minutes: 0.01 }
};

function start(extra: Partial<SidecarOptions> = {}): Promise<Sidecar> {
  return startSidecar({ dirs, env: fakeGpu.env, config: CONFIG, ...extra }).then(s => (running.push(s), s));
}

before(() => {
  dirs = makeTempDirs();
  fakeGpu = makeFakeGpu();
});

after(async () => {
  for (const s of running) {
    await s.stop();
  }
  dirs?.remove();
  fakeGpu?.remove();
});

describe('a second sidecar on the same state directory', () => {
  let first: Sidecar;

  before(async () => {
    first = await start();
    await switchGpu(first, true);
  });

  test('refuses to start, naming the pid of the sidecar that holds the directory', async () => {
    const second = await runUntilExit({ dirs, config: CONFIG, timeoutMs: 30_000 });
    assert.equal(second.code, 1, second.stderr);
    assert.match(second.stderr, new RegExp(`Another sidecar \\(pid ${first.pid}\\) is already running on the state directory`));
  });

  test('leaves the first one working: its Jupyter answers and its GPU session still meters', async () => {
    const contents = await fetchJson(first.url('api/contents'), { headers: tokenHeader(first) });
    assert.equal(contents.status, 200);
    const { body } = await getUsage(first);
    assert.equal(body.sessions.filter(s => s.ended_at === null).length, 1, JSON.stringify(body.sessions));
    const before = (await gpuStatus(first)).quota.used_seconds;
    await waitFor('a tick to be charged', async () => ((await gpuStatus(first)).quota.used_seconds > before + 0.4 ? true : undefined), {
      timeoutMs: 10_000
    });
  });
});

describe('a failing nvidia-smi while GPU mode is on', () => {
  test('is reported as unreadable utilisation, and never as an idle GPU', async () => {
    const sidecar = running[0];
    assert.equal((await gpuStatus(sidecar)).gpu.mode, 'on', 'precondition: GPU mode is on');
    fakeGpu.fail();
    try {
      const status = await waitFor('the status to report that utilisation cannot be read', async () => {
        const s = await gpuStatus(sidecar);
        return s.gpu.utilization_error ? s : undefined;
      });
      assert.match(status.gpu.utilization_error ?? '', /nvidia-smi failed/);
      assert.equal(status.gpu.idle_since, null);
      assert.equal(status.gpu.idle_warning, false);
    } finally {
      fakeGpu.setUtilization(0);
      fs.rmSync(path.join(fakeGpu.dir, 'fail'), { force: true });
    }
  });
});

describe('kill -9 while GPU mode is being switched off', () => {
  let restarted: Sidecar;

  before(async () => {
    const sidecar = running[0];
    const accepted = await postGpu(sidecar, { enabled: false });
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    // Jupyter is restarting into CPU mode right now.
    const exit = await sidecar.signalAndWait('SIGKILL', 10_000);
    assert.deepEqual(exit, { code: null, signal: 'SIGKILL' });
    restarted = await start();
  });

  test('comes back in CPU mode: the user asked for it, and no more GPU time is charged', async () => {
    const status = await gpuStatus(restarted);
    assert.equal(status.gpu.mode, 'off');
    assert.equal(status.quota.burn_rate, 0);
    const { body } = await getUsage(restarted);
    assert.equal(body.sessions.filter(s => s.ended_at === null).length, 0, JSON.stringify(body.sessions));
  });
});

describe('SIGTERM in the middle of switching GPU mode on', () => {
  let pids: number[];
  let exit: Awaited<ReturnType<Sidecar['signalAndWait']>>;

  before(async () => {
    const sidecar = running[running.length - 1];
    assert.equal((await gpuStatus(sidecar)).gpu.mode, 'off', 'precondition: CPU mode');
    await startKernel(sidecar);
    const jupyterPid = (await gpuStatus(sidecar)).jupyter.pid as number;
    pids = [jupyterPid, ...descendants(jupyterPid).map(p => p.pid)];
    const accepted = await postGpu(sidecar, { enabled: true });
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    exit = await sidecar.signalAndWait('SIGTERM', 60_000);
  });

  test('the sidecar exits 0 and leaves no Jupyter or kernel running, old or new', async () => {
    assert.deepEqual(exit, { code: 0, signal: null });
    await waitFor('every process of the workspace to be gone', () =>
      pids.some(isRunning) || processesMentioning(dirs.stateDir).length ? undefined : true,
      { timeoutMs: 5_000, intervalMs: 100 }
    );
  });

  test('the next start finds a consistent ledger: no session left open, and a mode it can run in', async () => {
    const again = await start();
    const status = await waitForSwitchEnd(again);
    assert.ok(status.gpu.mode === 'on' || status.gpu.mode === 'off');
    const { body } = await getUsage(again);
    const open = body.sessions.filter(s => s.ended_at === null);
    assert.equal(open.length, status.gpu.mode === 'on' ? 1 : 0, JSON.stringify(body.sessions));
  });
});
