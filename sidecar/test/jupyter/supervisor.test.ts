/**
 * The supervisor brings Jupyter back by itself when it dies, so the user
 * sees a short outage instead of a dead workspace.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fetchJson, getStatus, isRunning, Sidecar, startSidecar, StatusBody, tokenHeader, waitFor } from '../support/sidecar';

describe('when Jupyter dies on its own', () => {
  let sidecar: Sidecar;

  before(async () => {
    sidecar = await startSidecar({
      // Status calls stay instant while Jupyter is down (no re-check of the token against a dead server).
      config: { api: { identity_cache_seconds: 300 }, jupyter: { restart_backoff_initial_seconds: 0.5 } }
    });
  });

  after(async () => {
    await sidecar?.stop();
  });

  test('the sidecar restarts it and reports the crash', async () => {
    const before = await getStatus(sidecar);
    const oldPid = before.jupyter.pid;
    assert.ok(oldPid, 'status should report the Jupyter pid');
    assert.equal(before.jupyter.crashes, 0);

    process.kill(oldPid, 'SIGKILL');
    await waitFor(`the killed Jupyter (pid ${oldPid}) to be gone`, () => (isRunning(oldPid) ? undefined : true), { timeoutMs: 10_000 });

    const back = await waitFor<StatusBody>(
      'status to show Jupyter running again with a new pid',
      async () => {
        const now = await getStatus(sidecar);
        return now.jupyter.state === 'running' && now.jupyter.pid !== oldPid ? now : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 }
    );
    assert.ok(back.jupyter.crashes >= 1, `crashes should count the kill: ${JSON.stringify(back.jupyter)}`);
    assert.match(back.jupyter.last_exit ?? '', /SIGKILL/);
    assert.ok(back.jupyter.pid && isRunning(back.jupyter.pid), 'the new Jupyter process should be alive');
  });

  test('Jupyter answers through the proxy again after the automatic restart', async () => {
    const res = await fetchJson<{ type: string }>(sidecar.url('api/contents'), { headers: tokenHeader(sidecar) });
    assert.equal(res.status, 200);
    assert.equal(res.body.type, 'directory');
  });
});
