/**
 * POST server/restart: the user's "restart the server" button. It answers
 * 202 at once (a reverse proxy's read timeout never cuts it), the status
 * follows the restart, and a user notices nothing else: files stay, the login
 * stays.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  fetchJson,
  getStatus,
  isRunning,
  JsonResponse,
  login,
  LoginCookies,
  postRestart,
  Sidecar,
  startSidecar,
  StatusBody,
  tokenHeader,
  waitForGeneration
} from '../support/sidecar';
import type { RestartAccepted } from '@jupyterlab-gpu-workspace/api';

/** Who Jupyter itself says the cookie belongs to: asked through the proxy, so no sidecar cache is involved. */
async function jupyterIdentity(sidecar: Sidecar, cookies: LoginCookies): Promise<JsonResponse<{ identity: { username: string } }>> {
  return fetchJson<{ identity: { username: string } }>(sidecar.url('api/me'), { headers: { cookie: cookies.header } });
}

let sidecar: Sidecar;

before(async () => {
  // A long identity cache keeps token-authenticated status calls instant while
  // Jupyter is down, so the tests can watch a restart in progress.
  sidecar = await startSidecar({ config: { api: { identity_cache_seconds: 300 } } });
});

after(async () => {
  await sidecar?.stop();
});

describe('a restart', () => {
  let statusBefore: StatusBody;
  let cookies: LoginCookies;
  let usernameBefore: string;
  let response: JsonResponse<RestartAccepted>;
  let statusAfter: StatusBody;

  before(async () => {
    fs.writeFileSync(path.join(sidecar.dirs.home, 'keep-me.py'), 'print("still here")\n');
    cookies = await login(sidecar);
    const me = await jupyterIdentity(sidecar, cookies);
    assert.equal(me.status, 200, 'the login cookie should work before the restart');
    usernameBefore = me.body.identity.username;
    statusBefore = await getStatus(sidecar);
    response = await postRestart(sidecar);
    statusAfter = await waitForGeneration(sidecar, response.body.jupyter.generation);
  });

  test('answers 202 at once with the restart under way, and the status shows it done', async () => {
    assert.equal(response.status, 202, JSON.stringify(response.body));
    assert.equal(response.body.jupyter.state, 'restarting');
    assert.equal(statusAfter.jupyter.state, 'running');
    assert.equal(statusAfter.jupyter.last_error, null);
    const contents = await fetchJson(sidecar.url('api/contents'), { headers: tokenHeader(sidecar) });
    assert.equal(contents.status, 200, 'Jupyter should answer once the status says running');
  });

  test('runs Jupyter as a new process and counts the restart', async () => {
    const now = await getStatus(sidecar);
    assert.ok(statusBefore.jupyter.pid, 'status should report the Jupyter pid');
    assert.ok(now.jupyter.pid, 'status should report the new Jupyter pid');
    assert.notEqual(now.jupyter.pid, statusBefore.jupyter.pid);
    assert.equal(isRunning(statusBefore.jupyter.pid), false, `the old Jupyter (pid ${statusBefore.jupyter.pid}) should be gone`);
    assert.equal(now.jupyter.restarts, statusBefore.jupyter.restarts + 1);
    assert.equal(now.jupyter.crashes, 0, 'a requested restart is not a crash');
  });

  test('leaves the files in the home folder untouched', async () => {
    assert.equal(fs.readFileSync(path.join(sidecar.dirs.home, 'keep-me.py'), 'utf8'), 'print("still here")\n');
    const res = await fetchJson<{ content: string }>(sidecar.url('api/contents/keep-me.py?type=file&format=text'), {
      headers: tokenHeader(sidecar)
    });
    assert.equal(res.status, 200);
    assert.equal(res.body.content, 'print("still here")\n');
  });

  test('keeps the login cookie from before the restart valid', async () => {
    const me = await jupyterIdentity(sidecar, cookies);
    assert.equal(me.status, 200, 'Jupyter should accept the old cookie: the cookie secret is kept in the state dir');
    assert.equal(me.body.identity.username, usernameBefore);
    const status = await fetchJson<StatusBody>(sidecar.apiUrl('status'), { headers: { cookie: cookies.header } });
    assert.equal(status.status, 200);
  });
});

describe('a second restart while one is running', () => {
  test('is refused with 409 "busy" and the first one still completes', async () => {
    const first = await postRestart(sidecar);
    assert.equal(first.status, 202, JSON.stringify(first.body));
    const second = await postRestart(sidecar);
    assert.equal(second.status, 409, JSON.stringify(second.body));
    assert.equal((second.body as Partial<{ code: string }>).code, 'busy');
    const done = await waitForGeneration(sidecar, first.body.jupyter.generation);
    assert.equal(done.jupyter.state, 'running');
  });
});
