/**
 * The front door's guard through a real sidecar and a real Jupyter: what a
 * browser elsewhere, a rebinding page or a leaked operator token cannot do,
 * and what cookie-heavy browsers still can.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import * as http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { forwardedRequestHeaders } from '../../src/http/proxy';
import { openWebSocket } from '../support/kernel';
import { fetchJson, login, LoginCookies, Sidecar, startKernel, startSidecar, tokenHeader } from '../support/sidecar';

const OPERATOR_TOKEN = 'operator-secret-for-the-guard-test';

let sidecar: Sidecar;
let cookies: LoginCookies;

before(async () => {
  sidecar = await startSidecar({ config: { operator: { token: OPERATOR_TOKEN } } });
  cookies = await login(sidecar);
});

after(async () => {
  await sidecar?.stop();
});

/** A GET with a Host header of our choosing (fetch will not send a foreign one). */
function getWithHost(path: string, host: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: sidecar.port, path, headers: { ...headers, host } }, res => {
      let body = '';
      res.on('data', d => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

describe('the operator token', () => {
  test('is refused on a proxied Jupyter route, by header and in the URL, and never reaches Jupyter', async () => {
    const byHeader = await fetchJson(sidecar.url('api/contents'), { headers: { authorization: `token ${OPERATOR_TOKEN}` } });
    assert.equal(byHeader.status, 403, JSON.stringify(byHeader.body));
    assert.match(String(byHeader.body.message), /never passed on to Jupyter/);
    const inUrl = await fetchJson(sidecar.url(`api/contents?token=${OPERATOR_TOKEN}`));
    assert.equal(inUrl.status, 403);
  });
});

describe('the Host header (DNS rebinding)', () => {
  test('a request naming another host is refused, for Jupyter and the API alike', async () => {
    for (const path of ['/api/contents', '/gpu-workspace/api/v1/status', '/lab']) {
      const res = await getWithHost(path, `evil.example:${sidecar.port}`, tokenHeader(sidecar));
      assert.equal(res.status, 403, `${path}: ${res.body}`);
      assert.match(res.body, /not allowed here/);
    }
  });

  test('localhost and 127.0.0.1 are this machine and pass', async () => {
    for (const host of [`localhost:${sidecar.port}`, `127.0.0.1:${sidecar.port}`]) {
      assert.equal((await getWithHost('/api/contents', host, tokenHeader(sidecar))).status, 200, host);
    }
  });
});

describe('headers', () => {
  test('40 KB of cookies reach Jupyter and the API', async () => {
    const filler = Array.from({ length: 40 }, (_, i) => `hub-cookie-${i}=${'x'.repeat(1000)}`).join('; ');
    const jupyter = await fetchJson(sidecar.url('api/me'), { headers: { ...tokenHeader(sidecar), cookie: filler } });
    assert.equal(jupyter.status, 200, JSON.stringify(jupyter.body));
    const api = await fetchJson(sidecar.apiUrl('status'), { headers: { ...tokenHeader(sidecar), cookie: filler } });
    assert.equal(api.status, 200);
  });

  test('headers beyond 64 KiB get a clear 431, not a bare error', async () => {
    const huge = 'y'.repeat(70 * 1024);
    const res = await fetch(sidecar.url('api/contents'), { headers: { cookie: `big=${huge}` } });
    assert.equal(res.status, 431);
    assert.match(await res.text(), /larger than 64 KiB/);
  });

  test('what a client says about itself in X-Forwarded-* and X-Real-Ip is replaced by what the sidecar sees', () => {
    const req = {
      rawHeaders: ['Host', '127.0.0.1:8888', 'X-Forwarded-For', '6.6.6.6', 'X-Real-Ip', '6.6.6.6', 'X-Scheme', 'https', 'X-Forwarded-Proto', 'https'],
      socket: { remoteAddress: '127.0.0.1' }
    } as unknown as IncomingMessage;
    const out = forwardedRequestHeaders(req);
    const pairs = new Map<string, string[]>();
    for (let i = 0; i < out.length; i += 2) {
      pairs.set(out[i].toLowerCase(), [...(pairs.get(out[i].toLowerCase()) ?? []), out[i + 1]]);
    }
    assert.deepEqual(pairs.get('x-forwarded-for'), ['127.0.0.1']);
    assert.deepEqual(pairs.get('x-forwarded-proto'), ['http']);
    assert.equal(pairs.has('x-real-ip'), false);
    assert.equal(pairs.has('x-scheme'), false);
    // From a trusted proxy they are kept, and the sidecar's view is appended.
    const trusted = forwardedRequestHeaders(req, false, true);
    assert.ok(trusted.includes('6.6.6.6,127.0.0.1'), JSON.stringify(trusted));
  });
});

describe('kernel WebSockets with the login cookie', () => {
  test('one opened from a foreign Origin is refused; one from the page\'s own origin works', async () => {
    const kernelId = await startKernel(sidecar);
    const url = sidecar.url(`api/kernels/${kernelId}/channels`).replace(/^http/, 'ws');
    await assert.rejects(openWebSocket(url, 15_000, { cookie: cookies.header, origin: 'http://evil.example' }), /refused with 403/);
    const ws = await openWebSocket(url, 15_000, { cookie: cookies.header, origin: sidecar.origin });
    ws.close();
  });
});
