/**
 * The sidecar's own API (under {base_url}gpu-workspace/api/v1/): who may call
 * it, and how it answers requests it cannot serve. Every error is JSON
 * {message, code}. None of these tests restarts Jupyter, so they share one.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { fetchJson, getStatus, login, LoginCookies, Sidecar, startSidecar, StatusBody, tokenHeader } from '../support/sidecar';

interface ErrorBody {
  message: string;
  code: string;
}

function assertErrorBody(body: unknown): asserts body is ErrorBody {
  const b = body as Partial<ErrorBody>;
  assert.equal(typeof b.message, 'string', `error body should have a message: ${JSON.stringify(body)}`);
  assert.ok(b.message && b.message.length > 0, 'error message should not be empty');
  assert.equal(typeof b.code, 'string', `error body should have a code: ${JSON.stringify(body)}`);
}

let sidecar: Sidecar;
let cookies: LoginCookies;

before(async () => {
  sidecar = await startSidecar();
  cookies = await login(sidecar);
});

after(async () => {
  await sidecar?.stop();
});

describe('health', () => {
  test('answers without credentials', async () => {
    const res = await fetchJson(sidecar.apiUrl('health'));
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { status: 'ok' });
  });
});

describe('authentication', () => {
  test('a request without credentials gets 401 with a JSON message', async () => {
    const res = await fetchJson(sidecar.apiUrl('status'));
    assert.equal(res.status, 401);
    assertErrorBody(res.body);
    assert.equal(res.body.code, 'unauthorized');
  });

  test('a wrong token gets 401 with a JSON message', async () => {
    const res = await fetchJson(sidecar.apiUrl('status'), { headers: { authorization: 'token not-the-right-token' } });
    assert.equal(res.status, 401);
    assertErrorBody(res.body);
    assert.match(res.body.message, /token/i);
  });

  test('the right token in the Authorization header gets the status with the version', async () => {
    const res = await fetchJson<StatusBody>(sidecar.apiUrl('status'), { headers: tokenHeader(sidecar) });
    assert.equal(res.status, 200);
    assert.match(res.body.version, /^\d+\.\d+\.\d+/);
    assert.equal(res.body.api_version, 1);
    assert.equal(res.body.jupyter.state, 'running');
    assert.equal(typeof res.body.user.username, 'string');
  });

  test('the token also works as a ?token= query parameter', async () => {
    const res = await fetchJson<StatusBody>(`${sidecar.apiUrl('status')}?token=${sidecar.token}`);
    assert.equal(res.status, 200);
    assert.match(res.body.version, /^\d+\.\d+\.\d+/);
  });

  test('the Jupyter login cookie works for reading', async () => {
    const res = await fetchJson<StatusBody>(sidecar.apiUrl('status'), { headers: { cookie: cookies.header } });
    assert.equal(res.status, 200);
    assert.equal(res.body.jupyter.state, 'running');
  });

  test('a forged login cookie gets 401', async () => {
    const res = await fetchJson(sidecar.apiUrl('status'), { headers: { cookie: `${cookies.loginCookieName}=forged` } });
    assert.equal(res.status, 401);
    assertErrorBody(res.body);
  });

  test('a cookie-authenticated write without X-XSRFToken gets 403 naming XSRF', async () => {
    const res = await fetchJson(sidecar.apiUrl('server/restart'), {
      method: 'POST',
      headers: { cookie: cookies.header, 'content-type': 'application/json' },
      body: '{}'
    });
    assert.equal(res.status, 403);
    assertErrorBody(res.body);
    assert.match(res.body.message, /XSRF/);
  });

  test('a cookie-authenticated write with an X-XSRFToken that does not match the cookie gets 403', async () => {
    const res = await fetchJson(sidecar.apiUrl('server/restart'), {
      method: 'POST',
      headers: { cookie: cookies.header, 'x-xsrftoken': 'not-the-cookie', 'content-type': 'application/json' },
      body: '{}'
    });
    assert.equal(res.status, 403);
    assertErrorBody(res.body);
    assert.match(res.body.message, /XSRF/);
  });

  test('a cookie-authenticated write with the matching X-XSRFToken passes authentication', async () => {
    // A body with a field keeps the restart from happening: the request gets
    // past authentication and stops at body validation (400, not 401/403).
    const res = await fetchJson(sidecar.apiUrl('server/restart'), {
      method: 'POST',
      headers: { cookie: cookies.header, 'x-xsrftoken': cookies.xsrf, 'content-type': 'application/json' },
      body: JSON.stringify({ not_a_field: true })
    });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assertErrorBody(res.body);
    assert.equal(res.body.code, 'bad_request');
  });
});

describe('requests the API cannot serve', () => {
  const post = (route: string, body: string, contentType = 'application/json'): ReturnType<typeof fetchJson> =>
    fetchJson(sidecar.apiUrl(route), {
      method: 'POST',
      headers: { ...tokenHeader(sidecar), 'content-type': contentType },
      body
    });

  test('a malformed JSON body gets 400', async () => {
    const res = await post('server/restart', '{"unclosed": ');
    assert.equal(res.status, 400);
    assertErrorBody(res.body);
    assert.match(res.body.message, /JSON/);
  });

  test('a body over the size limit gets 413', async () => {
    const res = await post('server/restart', JSON.stringify({ padding: 'x'.repeat(100_000) }));
    assert.equal(res.status, 413);
    assertErrorBody(res.body);
  });

  test('unknown fields on a restart get 400 and no restart', async () => {
    const before = await getStatus(sidecar);
    const res = await post('server/restart', JSON.stringify({ force: true }));
    assert.equal(res.status, 400);
    assertErrorBody(res.body);
    const afterwards = await getStatus(sidecar);
    assert.equal(afterwards.jupyter.pid, before.jupyter.pid, 'Jupyter should not have been restarted');
  });

  test('hook runs: a bad id or offset gets 400, an unknown run 404, and the list answers', async () => {
    const list = await fetchJson<{ runs: unknown[] }>(sidecar.apiUrl('hooks/runs'), { headers: tokenHeader(sidecar) });
    assert.equal(list.status, 200);
    assert.ok(Array.isArray(list.body.runs));
    const badId = await fetchJson(sidecar.apiUrl('hooks/runs/..%2Fsecrets'), { headers: tokenHeader(sidecar) });
    assert.equal(badId.status, 400);
    assertErrorBody(badId.body);
    const badSince = await fetchJson(sidecar.apiUrl('hooks/runs/0123456789ab?since=-1'), { headers: tokenHeader(sidecar) });
    assert.equal(badSince.status, 400);
    assert.match(badSince.body.message as string, /since/);
    const unknown = await fetchJson(sidecar.apiUrl('hooks/runs/0123456789ab'), { headers: tokenHeader(sidecar) });
    assert.equal(unknown.status, 404);
    assertErrorBody(unknown.body);
  });

  test('an unknown route under the API prefix gets 404', async () => {
    const res = await fetchJson(sidecar.apiUrl('no/such/route'), { headers: tokenHeader(sidecar) });
    assert.equal(res.status, 404);
    assertErrorBody(res.body);
    assert.equal(res.body.code, 'not_found');
  });

  test('a wrong method on a known route gets 405 with an Allow header', async () => {
    const res = await fetchJson(sidecar.apiUrl('server/restart'), { headers: tokenHeader(sidecar) });
    assert.equal(res.status, 405);
    assertErrorBody(res.body);
    assert.equal(res.headers.get('allow'), 'POST');
  });

  test('a WebSocket upgrade under the API prefix gets 404 instead of reaching Jupyter', async () => {
    const url = `${sidecar.apiUrl('status')}?token=${sidecar.token}`.replace(/^http/, 'ws');
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(url);
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error('no answer to the upgrade within 10 s'));
      }, 10_000);
      ws.once('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        resolve(res.statusCode ?? 0);
        res.resume();
        ws.terminate();
      });
      ws.once('open', () => {
        clearTimeout(timer);
        ws.close();
        reject(new Error('the upgrade was accepted'));
      });
      // Terminating after the refusal may report an error; the status is what counts.
      ws.on('error', () => undefined);
    });
    assert.equal(status, 404);
  });
});

/** One request whose path is sent exactly as written (fetch and URL would resolve "..", "%2e" stays for the server). */
function rawRequest(method: string, pathBelowApi: string, headers: Record<string, string> = {}, body?: string | string[]): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Record<string, unknown> | null }> {
  const target = new URL(sidecar.apiUrl('status')).pathname.replace(/status$/, '') + pathBelowApi;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: sidecar.port, method, path: target, headers: { ...tokenHeader(sidecar), ...headers } }, res => {
      let text = '';
      res.on('data', c => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : null }));
    });
    req.on('error', reject);
    // Several pieces go out as separate chunks (no Content-Length): the limit must be counted as they arrive.
    for (const piece of Array.isArray(body) ? body : body === undefined ? [] : [body]) {
      req.write(piece);
    }
    req.end();
  });
}

describe('paths are matched as written', () => {
  test('a dot segment, plain or percent-encoded, is no route: 404, and never the route it would resolve to', async () => {
    for (const p of ['status/../usage', 'snapshots/../status', 'status/%2e%2e/usage', 'status/%2E%2e/usage', './status', '%2e/status', 'leases/%2e%2e']) {
      const res = await rawRequest('GET', p);
      assert.equal(res.status, 404, `GET ${p} answered ${res.status}`);
      assertErrorBody(res.body);
      assert.equal(res.body.code, 'not_found');
    }
  });

  test('a segment whose percent-escapes do not decode is no route: 404, never a 500', async () => {
    for (const p of ['snapshots/%/files', 'leases/%zz', 'hooks/runs/%E0%A4%A', 'status%']) {
      const res = await rawRequest(p.startsWith('leases') ? 'DELETE' : 'GET', p);
      assert.equal(res.status, 404, `${p} answered ${res.status}`);
      assertErrorBody(res.body);
    }
  });

  test('case and a trailing slash make another path', async () => {
    assert.equal((await rawRequest('GET', 'status')).status, 200);
    assert.equal((await rawRequest('GET', 'Status')).status, 404);
    assert.equal((await rawRequest('GET', 'status/')).status, 404);
  });

  test('HEAD is served wherever GET is, with GET\'s status and no body', async () => {
    const res = await rawRequest('HEAD', 'status');
    assert.equal(res.status, 200);
    assert.equal(res.body, null);
    assert.equal(res.headers['cache-control'], 'no-store');
  });

  test('a body without a content type, or sent as text/plain (a fetch without a preflight), is read as JSON', async () => {
    const plain = await rawRequest('POST', 'activity', { 'content-type': 'text/plain;charset=UTF-8', 'content-length': '2' }, '{}');
    assert.equal(plain.status, 200, JSON.stringify(plain.body));
    const none = await rawRequest('POST', 'activity', { 'content-length': '12' }, '{"extra": 1}');
    assert.equal(none.status, 400, 'the body was read: its unknown field was refused');
    assertErrorBody(none.body);
  });

  test('a chunked body over the limit is refused with 413 as it arrives', async () => {
    const piece = JSON.stringify({ pad: 'x'.repeat(40_000) });
    const res = await rawRequest('POST', 'activity', { 'content-type': 'application/json' }, [piece.slice(0, 20_000), piece.slice(20_000), ' '.repeat(40_000)]);
    assert.equal(res.status, 413);
    assertErrorBody(res.body);
    assert.equal(res.body.code, 'too_large');
  });

  test('a compressed body is refused with 415, not inflated', async () => {
    const res = await rawRequest('POST', 'activity', { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': '2' }, '{}');
    assert.equal(res.status, 415);
    assertErrorBody(res.body);
  });
});
