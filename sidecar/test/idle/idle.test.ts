/**
 * The inactivity policy against a real sidecar and a real Jupyter server,
 * with a timeout of seconds from the test config: the stop happens in the
 * sidecar with no browser open, background polling does not delay it,
 * heartbeats do; the stopped page needs credentials; Start is one start.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { IdleStatus, LeaseResponse, SnapshotFilesResponse, SnapshotListResponse } from '@jupyterlab-gpu-workspace/api';
import { fetchJson, getStatus, login, LoginCookies, runInNewKernel, Sidecar, startSidecar, tokenHeader, waitFor } from '../support/sidecar';

const TIMEOUT_MINUTES = 0.1; // 6 s
const TIMEOUT_MS = TIMEOUT_MINUTES * 60_000;
/** The stop must come within this of the deadline. */
const PRECISION_MS = 2000;

let sidecar: Sidecar;
let cookies: LoginCookies;
let kernelToken: string;

before(async () => {
  sidecar = await startSidecar({
    config: {
      idle: { timeout_minutes: TIMEOUT_MINUTES, warning_minutes: 0.05 },
      keep_awake: { heartbeat_seconds: 1, max_hours: 1, max_acquires_per_minute: 5 }
    }
  });
  cookies = await login(sidecar);
});

after(async () => {
  await sidecar?.stop();
});

const idleOf = async (): Promise<IdleStatus> => (await getStatus(sidecar)).idle;
const post = (route: string, body: unknown, headers: Record<string, string> = tokenHeader(sidecar)) =>
  fetchJson(sidecar.apiUrl(route), { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

async function waitForStop(timeoutMs = TIMEOUT_MS + 20_000): Promise<{ status: IdleStatus; at: number }> {
  const status = await waitFor('the idle stop', async () => {
    const s = await idleOf();
    return s.state === 'stopped' && !s.starting ? s : undefined;
  }, { timeoutMs, intervalMs: 100 });
  const at = Date.now();
  await waitFor('Jupyter to be down', async () => ((await getStatus(sidecar)).jupyter.state === 'stopped' ? true : undefined), { timeoutMs: 30_000 });
  return { status, at };
}

async function startAgain(): Promise<void> {
  const res = await post('server/start', {});
  assert.ok(res.status === 202 || res.status === 200, JSON.stringify(res.body));
  await waitFor('the workspace running again', async () => {
    const s = await getStatus(sidecar);
    return s.jupyter.state === 'running' && s.idle.state !== 'stopped' ? s : undefined;
  }, { timeoutMs: 120_000 });
}

describe('the idle stop', () => {
  test('happens in the sidecar at the deadline, with no browser, while the API is polled as JupyterLab does', async () => {
    await runInNewKernel(sidecar, "open('kept.txt', 'w').write('still here')");
    // Fresh activity, then only background polling: the stop must come at this deadline.
    await post('activity', {});
    const { deadline } = await idleOf();
    assert.ok(deadline);
    const polling = setInterval(() => {
      for (const path of ['api/kernels', 'api/sessions', 'api/contents', 'api/kernelspecs', 'api/me', 'api/terminals']) {
        void fetch(sidecar.url(path), { headers: tokenHeader(sidecar) }).then(r => r.arrayBuffer()).catch(() => undefined);
      }
    }, 1000);
    let seenWarning = false;
    try {
      await waitFor('the warning', async () => ((await idleOf()).state === 'warning' ? true : undefined), { timeoutMs: TIMEOUT_MS + 5000, intervalMs: 100 });
      seenWarning = true;
      const { status, at } = await waitForStop();
      const late = at - Date.parse(deadline);
      assert.ok(late < PRECISION_MS, `stopped ${late} ms after the deadline`);
      assert.ok(Date.parse(status.stopped_at ?? '') - Date.parse(deadline) < PRECISION_MS);
      assert.ok(Date.parse(status.stopped_at ?? '') >= Date.parse(deadline) - 50, 'not before the deadline');
    } finally {
      clearInterval(polling);
    }
    assert.ok(seenWarning);
    const full = await getStatus(sidecar);
    assert.equal(full.jupyter.state, 'stopped');
    assert.equal(full.jupyter.pid, null);
    assert.equal(full.quota.burn_rate, 0, 'nothing is charged while stopped');
    assert.equal(full.idle.deadline, null);
  });

  test('while stopped, page URLs answer the stopped page only to the user', async () => {
    for (const url of [sidecar.readyUrl, sidecar.url('tree?token=' + sidecar.token)]) {
      const res = await fetch(url);
      const html = await res.text();
      assert.equal(res.status, 200, html);
      assert.match(res.headers.get('content-type') ?? '', /text\/html/);
      assert.match(html, /<button[^>]*id="start"[^>]*>Start<\/button>/);
      assert.match(html, /files are safe/i);
      assert.match(html, /kernel memory/i);
    }
    const withCookie = await fetch(sidecar.url('lab/tree/kept.txt'), { headers: { cookie: cookies.header } });
    assert.equal(withCookie.status, 200);
    assert.match(await withCookie.text(), /Start/);
    const forgedCookie = cookies.header.replace(/(gpu-workspace-session-[^=]+=1\.\d+\.)[0-9a-f]{64}/, `$1${'0'.repeat(64)}`);
    assert.notEqual(forgedCookie, cookies.header);
    // Jupyter's own identity cookie is no login: a kernel could sign one with what Jupyter holds.
    const jupyterCookieOnly = cookies.header.replace(/;?\s*gpu-workspace-session-[^;]+/, '');
    const refused: Record<string, string>[] = [
      {},
      { authorization: 'token forged' },
      { cookie: forgedCookie },
      { cookie: jupyterCookieOnly },
      { cookie: 'username-127-0-0-1=2|1:0|10:1700000000|4:name|4:YQ==|abc' }
    ];
    for (const headers of refused) {
      const res = await fetch(sidecar.url('lab'), { headers });
      const html = await res.text();
      assert.equal(res.status, 401, `${JSON.stringify(headers)}: ${res.status}`);
      assert.doesNotMatch(html, /stopped|Start|kernel|files/i, 'reveals nothing');
    }
  });

  test('while stopped, Jupyter and the other API routes answer 503 "stopped"', async () => {
    const kernels = await fetchJson(sidecar.url('api/kernels'), { headers: tokenHeader(sidecar) });
    assert.equal(kernels.status, 503);
    assert.equal(kernels.body.code, 'stopped');
    const gpu = await post('gpu', { enabled: true });
    assert.equal(gpu.status, 503);
    assert.equal(gpu.body.code, 'stopped');
    const status = await fetchJson(sidecar.apiUrl('status'), { headers: { cookie: cookies.header } });
    assert.equal(status.status, 200, 'the login cookie is checked by the sidecar itself');
  });

  test('Start pressed twice is one start, and files are intact', async () => {
    const before = await getStatus(sidecar);
    const [a, b] = await Promise.all([post('server/start', {}), post('server/start', {})]);
    assert.deepEqual([a.status, b.status], [202, 202]);
    await waitFor('running', async () => ((await getStatus(sidecar)).jupyter.state === 'running' ? true : undefined), { timeoutMs: 120_000 });
    const after = await getStatus(sidecar);
    assert.equal(after.jupyter.generation, before.jupyter.generation + 1, 'exactly one start');
    assert.notEqual(after.idle.state, 'stopped');
    const again = await post('server/start', {});
    assert.equal(again.status, 200, 'not stopped: nothing to start');
    assert.equal(await runInNewKernel(sidecar, "print(open('kept.txt').read())"), 'still here\n');
  });

  test('the stop took a snapshot of the home first, tagged idle-stop, holding the files of that moment', async () => {
    const list = await fetchJson(sidecar.apiUrl('snapshots'), { headers: tokenHeader(sidecar) });
    assert.equal(list.status, 200, JSON.stringify(list.body));
    const { snapshots } = list.body as unknown as SnapshotListResponse;
    const idleStop = snapshots.find(s => s.trigger === 'idle-stop');
    assert.ok(idleStop, `an idle-stop snapshot among ${JSON.stringify(snapshots.map(s => s.trigger))}`);
    const files = await fetchJson(sidecar.apiUrl(`snapshots/${idleStop.id}/files`), { headers: tokenHeader(sidecar) });
    assert.equal(files.status, 200, JSON.stringify(files.body));
    assert.ok((files.body as unknown as SnapshotFilesResponse).entries.some(e => e.path === 'kept.txt'), 'kept.txt is in it');
  });

  test('user heartbeats delay the stop; when they stop, the stop comes', async () => {
    const started = Date.now();
    while (Date.now() - started < TIMEOUT_MS * 1.5) {
      const res = await post('activity', {});
      assert.equal(res.status, 200);
      assert.notEqual((res.body.idle as IdleStatus).state, 'stopped');
      await new Promise(r => setTimeout(r, 1000));
    }
    const { deadline } = await idleOf();
    const { at } = await waitForStop();
    assert.ok(at - Date.parse(deadline ?? '') < PRECISION_MS);
    await startAgain();
  });
});

describe('keep-awake leases', () => {
  before(async () => {
    kernelToken = (await runInNewKernel(sidecar, "import os; print(os.environ['GPU_WORKSPACE_TOKEN'], end='')")).trim();
    assert.match(kernelToken, /^[0-9a-f]{48}$/);
  });
  const kernel = (): Record<string, string> => ({ authorization: `token ${kernelToken}` });

  test('the kernel token may hold leases and read the status, nothing else', async () => {
    assert.equal((await fetchJson(sidecar.apiUrl('status'), { headers: kernel() })).status, 200);
    const gpu = await post('gpu', { enabled: false }, kernel());
    assert.equal(gpu.status, 403);
    assert.equal((await post('server/restart', {}, kernel())).status, 403);
    assert.equal((await post('activity', {}, kernel())).status, 403);
    const jupyter = await fetchJson(sidecar.url('api/contents'), { headers: kernel() });
    assert.equal(jupyter.status, 403, 'never passed on to Jupyter');
    assert.equal((await post('leases', { label: 'x', pid: process.pid }, { authorization: 'token forged' })).status, 401);
    assert.equal((await post('leases', { label: 'x', pid: process.pid }, {})).status, 401);
  });

  test('bad input is refused with a message', async () => {
    const cases: Array<[unknown, number]> = [
      [{ label: 'x' }, 400],
      [{ label: '', pid: process.pid }, 400],
      [{ label: 'x', pid: 'one' }, 400],
      [{ label: 'x', pid: 99_999_999 }, 400],
      [{ label: 'x', pid: process.pid, ttl_seconds: -1 }, 400],
      [{ label: 'x', pid: process.pid, extra: 1 }, 400],
      [[1, 2], 400]
    ];
    for (const [body, status] of cases) {
      const res = await post('leases', body, kernel());
      assert.equal(res.status, status, JSON.stringify(body));
      assert.equal(typeof res.body.message, 'string');
    }
    const malformed = await fetchJson(sidecar.apiUrl('leases'), { method: 'POST', headers: { ...kernel(), 'content-type': 'application/json' }, body: '{"label":' });
    assert.equal(malformed.status, 400);
    assert.equal((await post('leases/not-an-id/heartbeat', {}, kernel())).status, 400);
    assert.equal((await post('leases/00000000-0000-4000-8000-000000000000/heartbeat', {}, kernel())).status, 404);
  });

  test('a ttl above the cap is capped, and a lease ends when its holder exits; floods get 429', async () => {
    const holder = spawn('sleep', ['600'], { stdio: 'ignore' });
    try {
      const res = await post('leases', { label: 'training', pid: holder.pid, ttl_seconds: 10 * 3600 }, kernel());
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const lease = res.body as unknown as LeaseResponse;
      assert.equal(lease.capped, true);
      assert.equal(lease.ttl_seconds, 3600);
      assert.match(lease.note ?? '', /max_hours/);
      const held = await idleOf();
      assert.equal(held.state, 'held');
      assert.equal(held.deadline, null);
      assert.deepEqual(held.leases.map(l => [l.label, l.pid]), [['training', holder.pid]]);
      // Past the timeout, heartbeating: still held.
      const until = Date.now() + TIMEOUT_MS + 1000;
      while (Date.now() < until) {
        assert.equal((await post(`leases/${lease.lease.id}/heartbeat`, {}, kernel())).status, 200);
        await new Promise(r => setTimeout(r, 500));
      }
      assert.equal((await idleOf()).state, 'held');
      holder.kill('SIGKILL');
      const killedAt = Date.now();
      const after = await waitFor('the lease to end', async () => {
        const s = await idleOf();
        return s.leases.length === 0 ? s : undefined;
      }, { timeoutMs: 5000, intervalMs: 100 });
      assert.ok(Date.now() - killedAt < 3000);
      assert.ok(after.state === 'active' || after.state === 'warning');
      assert.ok(after.deadline && Date.parse(after.deadline) > killedAt, 'the idle clock runs again from the end of the lease');
      // Flood: 5 a minute allowed, one used above.
      let limited: Record<string, unknown> | null = null;
      for (let i = 0; i < 6 && !limited; i++) {
        const r = await post('leases', { label: `flood ${i}`, pid: process.pid, ttl_seconds: 1 }, kernel());
        if (r.status === 429) {
          limited = r.body;
        } else {
          assert.equal(r.status, 201);
        }
      }
      assert.ok(limited, 'a flood is refused');
      assert.equal(limited.code, 'rate_limited');
      assert.match(String(limited.message), /5 a minute/);
    } finally {
      holder.kill('SIGKILL');
    }
  });
});

describe('live events', () => {
  test('the stream sends the state on connect and again on a change, unbuffered; it needs credentials', async () => {
    const refused = await fetch(sidecar.apiUrl('events'));
    assert.equal(refused.status, 401);
    await refused.arrayBuffer();
    const forged = await fetch(sidecar.apiUrl('events'), { headers: { authorization: 'token forged' } });
    assert.equal(forged.status, 401);
    await forged.arrayBuffer();
    const viaKernel = await fetch(sidecar.apiUrl('events'), { headers: { authorization: `token ${kernelToken}` } });
    assert.equal(viaKernel.status, 403, 'the kernel token does not get the live state');
    await viaKernel.arrayBuffer();

    // From a running workspace with a counting clock (no leases left from the tests above).
    await waitFor('no leases', async () => ((await idleOf()).leases.length === 0 ? true : undefined), { timeoutMs: 10_000 });
    if ((await idleOf()).state === 'stopped') {
      await startAgain();
    }
    await post('activity', {});
    const abort = new AbortController();
    const res = await fetch(sidecar.apiUrl(`events?token=${sidecar.token}`), { signal: abort.signal, headers: { cookie: cookies.header } });
    try {
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
      assert.equal(res.headers.get('x-accel-buffering'), 'no');
      assert.equal(res.headers.get('content-encoding'), null);
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const decoder = new TextDecoder();
      let text = '';
      const nextState = async (): Promise<Record<string, unknown>> => {
        for (;;) {
          const match = /event: state\ndata: (.*)\n\n/.exec(text);
          if (match) {
            text = text.slice((match.index ?? 0) + match[0].length);
            return JSON.parse(match[1]) as Record<string, unknown>;
          }
          const { value, done } = await reader.read();
          assert.ok(!done, 'the stream stays open');
          text += decoder.decode(value, { stream: true });
        }
      };
      const first = await nextState();
      assert.deepEqual(Object.keys(first).sort(), ['gpu', 'idle', 'jupyter', 'quota']);
      const sent = Date.now();
      assert.equal((await post('activity', {})).status, 200);
      const second = await nextState();
      assert.ok(Date.now() - sent < 2000, 'pushed at once, not buffered');
      assert.notEqual((second.idle as IdleStatus).deadline, (first.idle as IdleStatus).deadline);
    } finally {
      abort.abort();
    }
  });
});
