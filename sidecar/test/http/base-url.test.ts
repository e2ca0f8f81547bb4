/**
 * Behind JupyterHub the workspace lives under a prefix such as /user/alice/:
 * Jupyter and the sidecar API both move under it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fetchJson, Sidecar, startSidecar, StatusBody, tokenHeader } from '../support/sidecar';

describe('with --base-url /user/alice/', () => {
  let sidecar: Sidecar;

  before(async () => {
    sidecar = await startSidecar({ args: ['--base-url', '/user/alice/'] });
  });

  after(async () => {
    await sidecar?.stop();
  });

  test('prints the URL to open under the prefix', () => {
    assert.ok(
      sidecar.stdout().includes(`http://127.0.0.1:${sidecar.port}/user/alice/lab?token=${sidecar.token}`),
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
