/**
 * The GPU-hours quota as the user and the operator see it: running out
 * switches the workspace to CPU mode by itself, only the operator can grant
 * more hours (over the API or the CLI, while the sidecar runs), an idle GPU
 * is pointed out, and GET usage accounts for it all.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT, Sidecar, startSidecar, tokenHeader, waitFor } from '../support/sidecar';
import { FAKE_NVIDIA_SMI, FakeGpu, getUsage, gpuStatus, GpuStatusBody, makeFakeGpu, postGpu, postGrant, switchGpu } from '../support/gpu';

const QUOTA_HOURS = 0.001; // 3.6 s
const ALLOCATION_S = QUOTA_HOURS * 3600;
const TICK_S = 0.5;
const OPERATOR_TOKEN = 'operator-secret-0123456789';
const OPERATOR = `token ${OPERATOR_TOKEN}`;

let sidecar: Sidecar;
let fakeGpu: FakeGpu;

before(async () => {
  fakeGpu = makeFakeGpu(0);
  sidecar = await startSidecar({
    env: fakeGpu.env,
    config: {
      api: { identity_cache_seconds: 300 },
      operator: { token: OPERATOR_TOKEN },
      gpu: {
        nvidia_smi: FAKE_NVIDIA_SMI,
        tick_seconds: TICK_S,
        exhaustion_grace_seconds: 1,
        utilization_poll_seconds: 0.3,
        idle_warning_minutes: 0.02, // 1.2 s
        idle_utilization_percent: 5,
        quota: { hours: QUOTA_HOURS, period: 'total' }
      }
    }
  });
});

after(async () => {
  await sidecar?.stop();
  fakeGpu?.remove();
});

describe('running out of GPU hours', () => {
  test('switches the workspace to CPU mode by itself after the grace period', async () => {
    const { gpu } = await switchGpu(sidecar, true);
    assert.equal(gpu.mode, 'on');
    let graceAnnounced = false;
    const off = await waitFor(
      `GPU mode to switch off by itself once the ${ALLOCATION_S} s allocation is used (plus 1 s grace and a Jupyter restart)`,
      async () => {
        const status = await gpuStatus(sidecar);
        graceAnnounced ||= status.gpu.exhausted_switch_at !== null;
        return status.gpu.mode === 'off' ? status : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 100 }
    );
    assert.ok(graceAnnounced, 'while the grace ran, status said when the switch would happen (exhausted_switch_at)');
    assert.equal(off.gpu.exhausted_switch_at, null);
    assert.equal(off.quota.remaining_seconds, 0);
    assert.equal(off.quota.burn_rate, 0);
    assert.ok(
      off.quota.used_seconds >= ALLOCATION_S - 1e-9 && off.quota.used_seconds <= ALLOCATION_S + TICK_S,
      `used ${off.quota.used_seconds} s of ${ALLOCATION_S} s`
    );
  });

  test('enabling again is refused with 409 quota_exhausted', async () => {
    const res = await postGpu(sidecar, { enabled: true });
    assert.equal(res.status, 409, JSON.stringify(res.body));
    assert.equal(res.body.code, 'quota_exhausted');
    assert.match(String(res.body.message), /No GPU hours are left/);
    assert.equal((await gpuStatus(sidecar)).gpu.mode, 'off');
  });
});

describe('operator grants over the API', () => {
  test('are refused with 403 without the operator token', async () => {
    const body = { hours: 1, reason: 'not allowed' };
    for (const [who, authorization] of [
      ['no credentials', undefined],
      ["the user's token", tokenHeader(sidecar).authorization],
      ['a wrong operator token', 'token operator-secret-0123456780'],
      ['a prefix of the operator token', `token ${OPERATOR_TOKEN.slice(0, -1)}`]
    ] as const) {
      const res = await postGrant(sidecar, body, authorization);
      assert.equal(res.status, 403, `${who}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.code, 'forbidden', who);
    }
    assert.equal((await gpuStatus(sidecar)).quota.granted_seconds, 0);
  });

  test('refuse bad hours and reasons with 400', async () => {
    const cases: [string, unknown][] = [
      ['negative hours', { hours: -1, reason: 'r' }],
      ['zero hours', { hours: 0, reason: 'r' }],
      ['absurdly many hours', { hours: 1e9, reason: 'r' }],
      ['hours as a string', { hours: '2', reason: 'r' }],
      ['no reason', { hours: 1 }],
      ['a blank reason', { hours: 1, reason: '   ' }],
      ['an unknown field', { hours: 1, reason: 'r', user: 'bob' }],
      ['malformed JSON', '{"hours": 1,']
    ];
    for (const [what, body] of cases) {
      const res = await postGrant(sidecar, body, OPERATOR);
      assert.equal(res.status, 400, `${what}: ${JSON.stringify(res.body)}`);
      assert.equal(typeof res.body.message, 'string', what);
    }
    assert.equal((await gpuStatus(sidecar)).quota.granted_seconds, 0);
  });

  test('with the operator token answer 201 and let GPU mode be enabled again', async () => {
    const res = await postGrant(sidecar, { hours: 1, reason: 'extension for project 2' }, OPERATOR);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const grant = res.body.grant as { hours: number; reason: string; actor: string };
    assert.deepEqual([grant.hours, grant.reason, grant.actor], [1, 'extension for project 2', 'operator-api']);
    const quota = res.body.quota as GpuStatusBody['quota'];
    assert.equal(quota.allocation_seconds, ALLOCATION_S + 3600);
    assert.ok(Math.abs(quota.remaining_seconds - 3600) < TICK_S + 1e-6, `remaining ${quota.remaining_seconds}`);

    const { gpu } = await switchGpu(sidecar, true);
    assert.equal(gpu.mode, 'on');
  });
});

describe('an idle GPU in GPU mode', () => {
  test('is pointed out after idle_warning_minutes, and no longer once the GPU is busy', async () => {
    assert.equal((await gpuStatus(sidecar)).gpu.mode, 'on', 'precondition: GPU mode is on');
    fakeGpu.setUtilization(0);
    const idle = await waitFor(
      'gpu.idle_warning to become true with the GPU at 0 % (warning after 1.2 s, polled every 0.3 s)',
      async () => {
        const { gpu } = await gpuStatus(sidecar);
        return gpu.idle_warning ? gpu : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 100 }
    );
    assert.match(String(idle.idle_since), /^\d{4}-\d\d-\d\dT/);
    assert.equal(idle.idle_warning_minutes, 0.02);

    fakeGpu.setUtilization(80);
    const busy = await waitFor(
      'gpu.idle_warning to become false with the GPU at 80 %',
      async () => {
        const { gpu } = await gpuStatus(sidecar);
        return gpu.idle_warning ? undefined : gpu;
      },
      { timeoutMs: 15_000, intervalMs: 100 }
    );
    assert.equal(busy.idle_since, null);
    assert.equal(busy.devices[0].utilization_percent, 80, 'status shows the utilisation nvidia-smi reported');
  });
});

describe('the quota CLI while the sidecar runs', () => {
  test('quota grant exits 0 and the running sidecar counts the hours at once', async () => {
    const before = (await gpuStatus(sidecar)).quota.allocation_seconds;
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>(resolve => {
      execFile(
        process.execPath,
        [path.join('sidecar', 'bin', 'gpu-workspace.js'), 'quota', 'grant', '--hours', '2', '--reason', 'lab 3', '--state-dir', sidecar.dirs.stateDir],
        { cwd: REPO_ROOT, timeout: 30_000 },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr })
      );
    });
    assert.equal(result.code, 0, `exit code; stderr: ${result.stderr}`);
    assert.match(result.stdout, /Granted 2 GPU hours/);
    const after = (await gpuStatus(sidecar)).quota.allocation_seconds;
    assert.equal(after, before + 7200);
  });
});

describe('GET usage', () => {
  test('lists the GPU sessions and grants of the period', async () => {
    const res = await getUsage(sidecar);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const { sessions, grants, quota } = res.body;
    const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

    assert.equal(sessions.length, 2, JSON.stringify(sessions));
    const [current, exhausted] = sessions; // newest first
    assert.equal(current.ended_at, null, 'the session running now is open');
    assert.match(current.started_at, iso);
    assert.match(exhausted.started_at, iso);
    assert.match(String(exhausted.ended_at), iso);
    assert.ok(Math.abs(exhausted.charged_seconds - ALLOCATION_S) < 1e-6, `the exhausted session was charged the allocation: ${exhausted.charged_seconds}`);
    assert.deepEqual([exhausted.profile, exhausted.weight], ['gpu', 1]);

    assert.deepEqual(
      grants.map(g => [g.hours, g.reason, g.actor.replace(/:.*/, ':…')]),
      [
        [2, 'lab 3', 'operator-cli:…'],
        [1, 'extension for project 2', 'operator-api']
      ]
    );
    grants.forEach(g => assert.match(g.at, iso));
    assert.equal(quota.period, 'total');
    assert.equal(quota.allocation_seconds, ALLOCATION_S + 3 * 3600);
  });
});
