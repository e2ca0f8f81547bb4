/**
 * GPU mode as the user sees it: the switch restarts Jupyter so new kernels see
 * the GPU (or not), and the meter charges GPU time only while the mode is on,
 * at the chosen profile's weight. Real sidecar, Jupyter and ledger; the only
 * stand-in is nvidia-smi.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fetchJson, Sidecar, startKernel, startSidecar, tokenHeader } from '../support/sidecar';
import {
  FAKE_NVIDIA_SMI,
  FakeGpu,
  gpuStatus,
  kernelCudaVisibleDevices,
  makeFakeGpu,
  postGpu,
  sleep,
  switchGpu,
  timedStatus,
  waitForSwitchEnd
} from '../support/gpu';

const QUOTA_HOURS = 10;
const TICK_S = 0.5;
/** Seconds the meter is watched for. */
const WATCH_MS = 2000;
/** Rounding, and a tick that fires late on a loaded machine. */
const SLACK_S = 0.15;

let sidecar: Sidecar;
let fakeGpu: FakeGpu;

before(async () => {
  fakeGpu = makeFakeGpu();
  sidecar = await startSidecar({
    env: fakeGpu.env,
    config: {
      api: { identity_cache_seconds: 300 },
      gpu: {
        nvidia_smi: FAKE_NVIDIA_SMI,
        tick_seconds: TICK_S,
        quota: { hours: QUOTA_HOURS },
        profiles: [
          { name: 'full', label: 'Whole GPU', weight: 1 },
          { name: 'half', label: 'Half a GPU', weight: 0.5, devices: '0' }
        ]
      }
    }
  });
});

after(async () => {
  await sidecar?.stop();
  fakeGpu?.remove();
});

/**
 * Watches the meter for WATCH_MS and checks it grew by the elapsed time ×
 * weight: at least the time between the two answers, at most the time between
 * the two requests (plus slack).
 */
async function assertMeterBurns(weight: number): Promise<void> {
  const a = await timedStatus(sidecar);
  await sleep(WATCH_MS);
  const b = await timedStatus(sidecar);
  const grew = b.body.quota.used_seconds - a.body.quota.used_seconds;
  const least = ((b.sentMs - a.receivedMs) / 1000) * weight - SLACK_S;
  const most = ((b.receivedMs - a.sentMs) / 1000) * weight + SLACK_S;
  assert.ok(
    grew >= least && grew <= most,
    `used_seconds grew by ${grew.toFixed(3)} s in about ${WATCH_MS / 1000} s; expected ${least.toFixed(3)}..${most.toFixed(3)} (weight ${weight})`
  );
  assert.equal(b.body.quota.burn_rate, weight);
  assert.ok(
    Math.abs(b.body.quota.remaining_seconds - (b.body.quota.allocation_seconds - b.body.quota.used_seconds)) < 1e-6,
    'remaining = allocation - used'
  );
}

describe('GPU mode', () => {
  test('status shows the GPU from nvidia-smi, GPU mode off and the full allocation', async () => {
    const { gpu, quota } = await gpuStatus(sidecar);
    assert.equal(gpu.available, true, `reason: ${gpu.reason}`);
    assert.equal(gpu.reason, null);
    assert.equal(gpu.mode, 'off');
    assert.equal(gpu.devices.length, 1);
    assert.deepEqual(gpu.devices[0], {
      index: 0,
      uuid: 'GPU-00000000-1111-2222-3333-444444444444',
      name: 'NVIDIA H100 80GB HBM3',
      memory_total_mib: 81559,
      memory_used_mib: 1024,
      utilization_percent: 0
    });
    assert.deepEqual(
      gpu.profiles.map(p => [p.name, p.weight]),
      [
        ['full', 1],
        ['half', 0.5]
      ]
    );
    assert.equal(quota.allocation_seconds, QUOTA_HOURS * 3600);
    assert.equal(quota.used_seconds, 0);
    assert.equal(quota.remaining_seconds, QUOTA_HOURS * 3600);
    assert.equal(quota.burn_rate, 0);
  });

  test('refuses bad switch requests with 400 and stays off', async () => {
    const cases: [string, unknown][] = [
      ['"enabled" as a string', { enabled: 'yes' }],
      ['"enabled" missing', {}],
      ['an unknown field', { enabled: true, force: true }],
      ['an unknown profile', { enabled: true, profile: 'quadruple' }],
      ['a profile that is not a string', { enabled: true, profile: 3 }],
      ['a JSON array', [true]],
      ['malformed JSON', '{"enabled": tru'],
      ['an empty body', '']
    ];
    for (const [what, body] of cases) {
      const res = await postGpu(sidecar, body);
      assert.equal(res.status, 400, `${what}: ${JSON.stringify(res.body)}`);
      assert.equal(typeof res.body.message, 'string', `${what}: a message for people`);
      assert.match(String(res.body.code), /^bad_(request|json)$/, what);
    }
    const unknownProfile = await postGpu(sidecar, { enabled: true, profile: 'quadruple' });
    assert.match(String(unknownProfile.body.message), /full, half/, 'the answer lists the profiles to choose from');
    const { gpu, quota } = await gpuStatus(sidecar);
    assert.equal(gpu.mode, 'off');
    assert.equal(quota.used_seconds, 0);
  });

  test('enabling is accepted (202) and ends in mode on, ends the old kernels, and new kernels see the GPU', async () => {
    const oldKernel = await startKernel(sidecar);
    const { gpu, quota } = await switchGpu(sidecar, true);
    assert.equal(gpu.mode, 'on');
    assert.equal(gpu.target, null);
    assert.equal(gpu.profile, 'full', 'the first profile is the default');
    assert.equal(quota.burn_rate, 1);

    const old = await fetch(sidecar.url(`api/kernels/${oldKernel}`), { headers: tokenHeader(sidecar), signal: AbortSignal.timeout(30_000) });
    await old.arrayBuffer();
    assert.equal(old.status, 404, 'a kernel started before the switch cannot still run without the GPU it was promised');
    assert.equal(await kernelCudaVisibleDevices(sidecar), "'0'");
  });

  test('the meter charges the wall time while GPU mode is on', async () => {
    assert.equal((await gpuStatus(sidecar)).gpu.mode, 'on', 'precondition: GPU mode is on');
    await assertMeterBurns(1);
  });

  test('disabling stops the meter and new kernels see no GPU', async () => {
    const { gpu, quota } = await switchGpu(sidecar, false);
    assert.equal(gpu.mode, 'off');
    assert.equal(gpu.profile, null);
    assert.equal(quota.burn_rate, 0);
    const before = (await gpuStatus(sidecar)).quota.used_seconds;
    assert.ok(before > 0, 'the time GPU mode was on was charged');
    await sleep(1500);
    assert.equal((await gpuStatus(sidecar)).quota.used_seconds, before, 'nothing is charged while GPU mode is off');
    assert.equal(await kernelCudaVisibleDevices(sidecar), "''", 'an empty CUDA_VISIBLE_DEVICES hides every GPU');
  });

  test('a switch answers 202 at once with the switch under way; a second one meanwhile gets 409 "busy"; the first completes', async () => {
    const [a, b] = await Promise.all([postGpu(sidecar, { enabled: true, profile: 'half' }), postGpu(sidecar, { enabled: true, profile: 'half' })]);
    const statuses = [a.status, b.status].sort();
    assert.deepEqual(statuses, [202, 409], `answers: ${JSON.stringify([a.body, b.body])}`);
    const accepted = a.status === 202 ? a : b;
    assert.equal(accepted.body.gpu.mode, 'switching');
    assert.equal(accepted.body.gpu.target, 'on');
    const refused = a.status === 409 ? a : b;
    assert.match(refused.headers.get('content-type') ?? '', /application\/json/);
    assert.equal(refused.body.code, 'busy');
    assert.match(String(refused.body.message), /in progress/);
    await waitForSwitchEnd(sidecar);
    const { gpu } = await gpuStatus(sidecar);
    assert.equal(gpu.mode, 'on');
    assert.equal(gpu.profile, 'half');
  });

  test('a half-GPU profile charges half the wall time', async () => {
    const { gpu } = await gpuStatus(sidecar);
    assert.deepEqual([gpu.mode, gpu.profile], ['on', 'half'], 'precondition: the half profile is on');
    await assertMeterBurns(0.5);
  });

  test('switching while already in the asked mode answers 200 at once without a restart', async () => {
    const pidBefore = (await gpuStatus(sidecar)).jupyter.pid;
    const res = await postGpu(sidecar, { enabled: true, profile: 'half' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.gpu.mode, 'on');
    assert.equal((await gpuStatus(sidecar)).jupyter.pid, pidBefore, 'Jupyter was not restarted');
  });

  test('GET usage lists the GPU sessions of the period with ISO times and charges', async () => {
    const res = await fetchJson<{
      quota: { used_seconds: number };
      sessions: { profile: string; weight: number; started_at: string; ended_at: string | null; charged_seconds: number }[];
      grants: unknown[];
    }>(sidecar.apiUrl('usage'), { headers: tokenHeader(sidecar) });
    assert.equal(res.status, 200);
    const { sessions } = res.body;
    assert.equal(sessions.length, 2, JSON.stringify(sessions));
    const [current, first] = sessions; // newest first
    assert.deepEqual([current.profile, current.weight, current.ended_at], ['half', 0.5, null]);
    assert.equal(first.profile, 'full');
    const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
    assert.match(first.started_at, iso);
    assert.match(String(first.ended_at), iso);
    assert.ok(Date.parse(String(first.ended_at)) > Date.parse(first.started_at));
    assert.ok(Date.parse(current.started_at) >= Date.parse(String(first.ended_at)));
    assert.ok(first.charged_seconds > WATCH_MS / 1000, `the first session was on for more than ${WATCH_MS / 1000} s: ${first.charged_seconds}`);
    assert.deepEqual(res.body.grants, []);
  });
});

describe('without a usable GPU', () => {
  let noDriver: Sidecar;
  let broken: Sidecar;
  let brokenGpu: FakeGpu;

  before(async () => {
    brokenGpu = makeFakeGpu();
    brokenGpu.fail();
    // Both start at once: each Jupyter start takes seconds.
    [noDriver, broken] = await Promise.all([
      startSidecar({ config: { api: { identity_cache_seconds: 300 }, gpu: { nvidia_smi: '/nonexistent/nvidia-smi' } } }),
      startSidecar({ env: brokenGpu.env, config: { api: { identity_cache_seconds: 300 }, gpu: { nvidia_smi: FAKE_NVIDIA_SMI } } })
    ]);
  });

  after(async () => {
    await Promise.all([noDriver?.stop(), broken?.stop()]);
    brokenGpu?.remove();
  });

  test('no nvidia-smi: status says GPU mode is unavailable and why', async () => {
    const { gpu, quota } = await gpuStatus(noDriver);
    assert.equal(gpu.available, false);
    assert.equal(gpu.mode, 'off');
    assert.deepEqual(gpu.devices, []);
    assert.match(String(gpu.reason), /no NVIDIA GPU driver/);
    assert.equal(quota.used_seconds, 0);
  });

  test('no nvidia-smi: enabling is refused with 409 and the reason', async () => {
    const { gpu } = await gpuStatus(noDriver);
    const res = await postGpu(noDriver, { enabled: true });
    assert.equal(res.status, 409, JSON.stringify(res.body));
    assert.equal(res.body.code, 'gpu_unavailable');
    assert.ok(String(res.body.message).includes(String(gpu.reason)), `"${res.body.message}" should include "${gpu.reason}"`);
    assert.equal((await gpuStatus(noDriver)).gpu.mode, 'off');
  });

  test('a failing nvidia-smi: status says it failed, and enabling is refused', async () => {
    const { gpu } = await gpuStatus(broken);
    assert.equal(gpu.available, false);
    assert.match(String(gpu.reason), /nvidia-smi failed/);
    assert.match(String(gpu.reason), /couldn't communicate with the NVIDIA driver/, 'the reason quotes nvidia-smi');
    const res = await postGpu(broken, { enabled: true });
    assert.equal(res.status, 409, JSON.stringify(res.body));
    assert.match(String(res.body.message), /nvidia-smi failed/);
  });
});
