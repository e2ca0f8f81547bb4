/**
 * GPU mode and its meter across sidecar restarts on the same state folder:
 * a kill -9 loses at most one tick of metering and leaves no Jupyter behind,
 * and the mode the user chose is back after a restart.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { isRunning, makeTempDirs, Sidecar, SidecarOptions, startSidecar, TempDirs, waitFor } from '../support/sidecar';
import { FAKE_NVIDIA_SMI, FakeGpu, getUsage, gpuStatus, kernelCudaVisibleDevices, makeFakeGpu, sleep, switchGpu } from '../support/gpu';

const TICK_S = 0.5;
/** A tick that fires late on a loaded machine, and the time between an answer and the test reading the clock. */
const SLACK_S = 0.3;

let dirs: TempDirs;
let fakeGpu: FakeGpu;
const running: Sidecar[] = [];

function start(): Promise<Sidecar> {
  const options: SidecarOptions = {
    dirs,
    env: fakeGpu.env,
    config: { api: { identity_cache_seconds: 300 }, gpu: { nvidia_smi: FAKE_NVIDIA_SMI, tick_seconds: TICK_S } }
  };
  return startSidecar(options).then(s => (running.push(s), s));
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

describe('kill -9 of the sidecar while GPU mode is on', () => {
  let jupyterPid: number;
  let onSeconds: number;
  let restarted: Sidecar;
  let restartedReadyWallMs: number;

  before(async () => {
    const first = await start();
    await switchGpu(first, true);
    const enabledAt = performance.now();
    const status = await gpuStatus(first);
    assert.equal(status.gpu.mode, 'on');
    jupyterPid = status.jupyter.pid as number;
    assert.ok(jupyterPid, 'status reports the Jupyter pid');
    await sleep(2300); // not a whole number of ticks, so the lost part of a tick shows
    onSeconds = (performance.now() - enabledAt) / 1000;
    const exit = await first.signalAndWait('SIGKILL', 10_000);
    assert.deepEqual(exit, { code: null, signal: 'SIGKILL' });
  });

  test('does not leave Jupyter running', async () => {
    await waitFor(`Jupyter (pid ${jupyterPid}) to end after its sidecar was killed`, () => (isRunning(jupyterPid) ? undefined : true), {
      timeoutMs: 15_000,
      intervalMs: 100
    });
  });

  test('charges the time GPU mode was on before the kill, less at most one tick', async () => {
    restarted = await start();
    restartedReadyWallMs = Date.now();
    const { quota } = await gpuStatus(restarted);
    const usage = await getUsage(restarted);
    assert.equal(usage.status, 200);
    const killed = usage.body.sessions.find(s => s.ended_at !== null);
    assert.ok(killed, `the killed session is closed after the restart: ${JSON.stringify(usage.body.sessions)}`);
    const least = onSeconds - TICK_S - SLACK_S;
    assert.ok(
      killed.charged_seconds >= least && killed.charged_seconds <= onSeconds + SLACK_S,
      `charged ${killed.charged_seconds.toFixed(3)} s for ${onSeconds.toFixed(3)} s of GPU mode (tick ${TICK_S} s)`
    );
    assert.ok(
      quota.used_seconds >= least && quota.used_seconds <= onSeconds + SLACK_S,
      `used_seconds right after the restart is ${quota.used_seconds.toFixed(3)}, for ${onSeconds.toFixed(3)} s of GPU mode`
    );
  });

  test('comes back in GPU mode, metering from when Jupyter is back rather than while it starts', async () => {
    const { gpu } = await gpuStatus(restarted);
    assert.equal(gpu.mode, 'on');
    const usage = await getUsage(restarted);
    const open = usage.body.sessions.filter(s => s.ended_at === null);
    assert.equal(open.length, 1, `one open session: ${JSON.stringify(usage.body.sessions)}`);
    const startedBeforeReady = (restartedReadyWallMs - Date.parse(open[0].started_at)) / 1000;
    assert.ok(
      startedBeforeReady <= 1,
      `the restored session started ${startedBeforeReady.toFixed(3)} s before the sidecar was ready (Jupyter start-up is not GPU time)`
    );
  });
});

describe('SIGTERM and a new sidecar on the same state folder', () => {
  let again: Sidecar;

  before(async () => {
    const current = running[running.length - 1];
    assert.equal((await gpuStatus(current)).gpu.mode, 'on', 'precondition: GPU mode is on');
    const exit = await current.signalAndWait('SIGTERM', 60_000);
    assert.deepEqual(exit, { code: 0, signal: null });
    again = await start();
  });

  test('GPU mode is still on and new kernels see the GPU', async () => {
    const { gpu, quota } = await gpuStatus(again);
    assert.equal(gpu.mode, 'on');
    assert.equal(quota.burn_rate, 1);
    assert.equal(await kernelCudaVisibleDevices(again), "'0'");
  });

  test('the stopped sidecar closed its GPU session and the new one opened another', async () => {
    const { body } = await getUsage(again);
    // Newest first: this sidecar's, the SIGTERM'd one's, the kill -9'd one's.
    assert.deepEqual(
      body.sessions.map(s => s.ended_at === null),
      [true, false, false],
      JSON.stringify(body.sessions)
    );
  });
});
