/**
 * Behind JupyterHub the workspace lives under a prefix such as /user/alice/:
 * Jupyter and the sidecar API both move under it. The URL printed at start
 * names the address the sidecar listens on.
 */
import assert from 'node:assert/strict';
import * as os from 'node:os';
import { after, before, describe, test } from 'node:test';
import { urlHost } from '../../src/workspace';
import { fetchJson, Sidecar, startSidecar, StatusBody, tokenHeader } from '../support/sidecar';

describe('with --base-url /user/alice/ and --host 127.0.0.2', () => {
  let sidecar: Sidecar;

  before(async () => {
    sidecar = await startSidecar({ args: ['--base-url', '/user/alice/', '--host', '127.0.0.2'] });
  });

  after(async () => {
    await sidecar?.stop();
  });

  test('prints the URL to open under the prefix, on the address it listens on', () => {
    assert.ok(
      sidecar.stdout().includes(`http://127.0.0.2:${sidecar.port}/user/alice/lab?token=${sidecar.token}`),
      `ready line: ${sidecar.stdout()}`
    );
  });

  test('serves health at /user/alice/gpu-workspace/api/v1/health', async () => {
    const res = await fetchJson(`${sidecar.origin}/user/alice/gpu-workspace/api/v1/health`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { status: 'ok' });
  });

  test('serves the authenticated status under the prefix', async () => {
    const res = await fetchJson<StatusBody>(`${sidecar.origin}/user/alice/gpu-workspace/api/v1/status`, {
      headers: tokenHeader(sidecar)
    });
    assert.equal(res.status, 200);
    assert.equal(res.body.jupyter.state, 'running');
  });

  test("proxies Jupyter's /user/alice/api/contents", async () => {
    const res = await fetchJson<{ type: string }>(`${sidecar.origin}/user/alice/api/contents`, { headers: tokenHeader(sidecar) });
    assert.equal(res.status, 200);
    assert.equal(res.body.type, 'directory');
  });

  test('does not serve the API without the prefix', async () => {
    const res = await fetch(`${sidecar.origin}/gpu-workspace/api/v1/health`, { signal: AbortSignal.timeout(30_000) });
    await res.arrayBuffer();
    assert.equal(res.status, 404);
  });
});

test('a wildcard listen address prints the machine\'s name, an IPv6 one in brackets', () => {
  assert.equal(urlHost('0.0.0.0'), os.hostname());
  assert.equal(urlHost('::1'), '[::1]');
  assert.equal(urlHost('10.1.2.3'), '10.1.2.3');
});
