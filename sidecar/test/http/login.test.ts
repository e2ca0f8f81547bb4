/**
 * The browser's login, checked at the front door with secrets Jupyter never
 * holds: the token in the printed URL or typed into Jupyter's login form
 * gives the sidecar's own login cookie; Jupyter sees neither the token nor
 * that cookie; what Jupyter could be tricked with (its own identity cookie,
 * a body with credentials, several tokens at once) goes nowhere.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openWebSocket } from '../support/kernel';
import { fetchJson, login, LoginCookies, runInNewKernel, Sidecar, startKernel, startSidecar } from '../support/sidecar';

const OPERATOR_TOKEN = 'operator-secret-for-the-login-test';

let sidecar: Sidecar;

before(async () => {
  sidecar = await startSidecar({ config: { operator: { token: OPERATOR_TOKEN } } });
});

after(async () => {
  await sidecar?.stop();
});

/** Set-Cookie lines of a response, by cookie name. */
function setCookies(res: Response): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of res.headers.getSetCookie()) {
    out.set(line.slice(0, line.indexOf('=')), line);
  }
  return out;
}

function sessionLine(res: Response): string | undefined {
  return [...setCookies(res)].find(([name]) => name.startsWith('gpu-workspace-session-'))?.[1];
}

/** Jupyter's log lines for requests it received (the supervisor copies them into ours). */
function jupyterSaw(text: string): boolean {
  return sidecar
    .stderr()
    .split('\n')
    .some(line => line.includes('"component":"supervisor"') && line.includes(text));
}

describe('logging in', () => {
  test('the printed URL logs the browser in with an HttpOnly cookie of the sidecar, and Jupyter never sees the token', async () => {
    const res = await fetch(sidecar.readyUrl, { redirect: 'manual' });
    assert.equal(res.status, 200);
    await res.text();
    const line = sessionLine(res);
    assert.ok(line, `no login cookie: ${JSON.stringify(res.headers.getSetCookie())}`);
    assert.match(line, /; HttpOnly/);
    assert.match(line, /; SameSite=Lax/);
    assert.match(line, /; Path=\//);
    const cookies = await login(sidecar);
    const contents = await fetchJson(sidecar.url('api/contents'), { headers: { cookie: cookies.header } });
    assert.equal(contents.status, 200, 'the cookie alone is a login');
    assert.ok(!jupyterSaw(sidecar.token), 'the workspace token reached Jupyter');
    assert.ok(!jupyterSaw('token=[secret]'), 'a token reached Jupyter in a URL');
  });

  test("Jupyter's login form takes the workspace token, sets the cookie and goes where the browser was going", async () => {
    const page = await fetch(sidecar.url('login?next=%2Ftree'), { redirect: 'manual' });
    const html = await page.text();
    assert.equal(page.status, 200);
    const xsrf = /name="_xsrf" value="([^"]+)"/.exec(html)?.[1];
    assert.ok(xsrf, 'the login page has no _xsrf field');
    const xsrfCookie = [...setCookies(page).values()].find(l => l.startsWith('_xsrf='))?.split(';')[0] ?? '';
    const post = (password: string, next = '/tree'): Promise<Response> =>
      fetch(sidecar.url(`login?next=${encodeURIComponent(next)}`), {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: xsrfCookie },
        body: new URLSearchParams({ _xsrf: xsrf, password }).toString()
      });
    const ok = await post(sidecar.token);
    assert.equal(ok.status, 302);
    assert.equal(ok.headers.get('location'), '/tree');
    assert.ok(sessionLine(ok), 'no login cookie after the form');
    const wrong = await post('not-the-token');
    assert.equal(wrong.status, 401);
    assert.match(await wrong.text(), /Invalid credentials/, "Jupyter's own message for a wrong token");
    assert.equal(sessionLine(wrong), undefined);
    const elsewhere = await post(sidecar.token, '//evil.example/');
    assert.equal(elsewhere.headers.get('location'), '/', 'a login sent the browser to another site');
  });

  test('logging out ends the login cookie', async () => {
    const cookies = await login(sidecar);
    const res = await fetch(sidecar.url('logout'), { headers: { cookie: cookies.header }, redirect: 'manual' });
    await res.text();
    assert.match(sessionLine(res) ?? '', /Max-Age=0/);
  });
});

describe('what Jupyter could be tricked with goes nowhere', () => {
  let cookies: LoginCookies;
  before(async () => {
    cookies = await login(sidecar);
  });

  test("Jupyter's own identity cookie is no login: without the sidecar's, Jupyter gets no cookie but _xsrf", async () => {
    const jupyterOnly = cookies.header.replace(/;?\s*gpu-workspace-session-[^;]+/, '');
    assert.match(jupyterOnly, /username-/);
    const res = await fetchJson(sidecar.url('api/contents'), { headers: { cookie: jupyterOnly } });
    assert.equal(res.status, 403, JSON.stringify(res.body));
    const api = await fetchJson(sidecar.apiUrl('status'), { headers: { cookie: jupyterOnly } });
    assert.equal(api.status, 401);
  });

  test('a body from someone not logged in never reaches Jupyter (a form body can carry ?token= for it)', async () => {
    const res = await fetchJson(sidecar.url('api/contents/x.txt'), {
      method: 'PUT',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'token=whatever&type=file'
    });
    assert.equal(res.status, 401);
    assert.equal(res.body.code, 'unauthorized');
  });

  test('a cookie write to Jupyter needs the XSRF header, as Jupyter would ask (it skips its own check for the sidecar)', async () => {
    const body = JSON.stringify({ type: 'file', format: 'text', content: 'x' });
    const bare = await fetchJson(sidecar.url('api/contents/xsrf.txt'), { method: 'PUT', headers: { cookie: cookies.header, 'content-type': 'application/json' }, body });
    assert.equal(bare.status, 403, JSON.stringify(bare.body));
    assert.match(String(bare.body.message), /XSRF/);
    const withHeader = await fetchJson(sidecar.url('api/contents/xsrf.txt'), {
      method: 'PUT',
      headers: { cookie: cookies.header, 'x-xsrftoken': cookies.xsrf, 'content-type': 'application/json' },
      body
    });
    assert.equal(withHeader.status, 201, JSON.stringify(withHeader.body));
  });

  test('two different tokens in one request are refused: readers disagree on which one counts', async () => {
    const res = await fetchJson(sidecar.url(`api/contents?token=${sidecar.token}&token=other`));
    assert.equal(res.status, 400);
    const both = await fetchJson(sidecar.apiUrl(`status?token=other`), { headers: { authorization: `token ${sidecar.token}` } });
    assert.equal(both.status, 400);
  });
});

describe('tokens that never go to Jupyter, wherever they hide', () => {
  test('the operator token as the last ?token= (tornado reads the last), or beside an Authorization: Basic, is refused', async () => {
    for (const [url, headers] of [
      [`api/contents?token=x&token=${OPERATOR_TOKEN}`, {}],
      [`api/contents?token=${OPERATOR_TOKEN}`, { authorization: 'Basic dXNlcjpwYXNz' }],
      ['api/contents', { authorization: `Basic ${Buffer.from(`user:${OPERATOR_TOKEN}`).toString('base64')}` }],
      [`api/contents?%74oken=${OPERATOR_TOKEN}`, {}]
    ] as const) {
      const res = await fetchJson(sidecar.url(url), { headers });
      assert.equal(res.status, 403, `${url} ${JSON.stringify(headers)}: ${res.status}`);
      assert.match(String(res.body.message), /never passed on to Jupyter/);
    }
  });

  test('the kernel token likewise', async () => {
    const kernelToken = (await runInNewKernel(sidecar, "import os; print(os.environ['GPU_WORKSPACE_TOKEN'])")).trim();
    for (const url of [`api/contents?token=x&token=${kernelToken}`, `api/kernels?token=${kernelToken}`]) {
      const res = await fetchJson(sidecar.url(url), { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
      assert.equal(res.status, 403, url);
      assert.match(String(res.body.message), /never passed on to Jupyter/, 'refused by Jupyter, not at the front door: it reached Jupyter');
    }
  });

  test('a WebSocket from another site is refused whatever ?token= it carries; the page\'s own works', async () => {
    const cookies = await login(sidecar);
    const kernelId = await startKernel(sidecar);
    for (const token of ['garbage', sidecar.token]) {
      const url = sidecar.url(`api/kernels/${kernelId}/channels?token=${token}`).replace(/^http/, 'ws');
      await assert.rejects(openWebSocket(url, 15_000, { cookie: cookies.header, origin: 'http://evil.example' }), /refused with 403/, token);
    }
    const own = await openWebSocket(sidecar.url(`api/kernels/${kernelId}/channels`).replace(/^http/, 'ws'), 15_000, {
      cookie: cookies.header,
      origin: sidecar.origin
    });
    own.close();
  });
});
