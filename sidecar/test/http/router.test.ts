import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { badRequest, WorkspaceError } from '../../src/errors';
import { Router } from '../../src/http/router';

const PREFIX = '/base/gpu-workspace/api/v1';
let server: http.Server;
let base: string;
const unexpected: unknown[] = [];

before(async () => {
  const router = new Router()
    .get('/things/:id', (req, res) => res.json({ id: req.params.id, q: req.query.get('q') }))
    .post('/things/:id', (req, res) => res.status(201).json({ id: req.params.id, body: req.body ?? null }))
    .post('/refuse', () => {
      throw badRequest('"x" must be a number.');
    })
    .post('/over', () => {
      throw new WorkspaceError(409, 'The home is over its cap.', 'over_cap', { largest: [{ path: 'data', bytes: 5 }], code: 'ignored', message: 'ignored' });
    })
    .get('/bug', () => {
      throw new Error('a bug with a secret stack');
    })
    .get('/slow', async (_req, res) => {
      await new Promise(resolve => setImmediate(resolve));
      res.json({ ok: true });
    });
  server = http.createServer((req, res) => void router.handle(PREFIX, req, res, { maxBodyBytes: 64, onUnexpectedError: err => unexpected.push(err) }));
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}${PREFIX}`;
});

after(() => server.close());

async function call(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; json: Record<string, unknown> | null }> {
  const res = await fetch(base + path, { method, body, headers: { 'content-type': 'application/json', ...headers } });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as Record<string, unknown>) : null };
}

describe('API router', () => {
  it('matches :params, percent-decoded, and passes the query', async () => {
    const r = await call('GET', '/things/a%20b?q=1');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { id: 'a b', q: '1' });
    assert.equal(r.headers.get('cache-control'), 'no-store');
  });

  it('parses JSON bodies, and an empty body is undefined', async () => {
    assert.deepEqual((await call('POST', '/things/7', '{"a":[1]}')).json, { id: '7', body: { a: [1] } });
    assert.deepEqual((await call('POST', '/things/7', '')).json, { id: '7', body: null });
    // A simple request (no preflight) sends text/plain: still JSON to us.
    assert.deepEqual((await call('POST', '/things/7', '{"b":2}', { 'content-type': 'text/plain;charset=UTF-8' })).json, { id: '7', body: { b: 2 } });
  });

  it('answers malformed JSON with 400 bad_json', async () => {
    const r = await call('POST', '/things/7', '{"a":');
    assert.equal(r.status, 400);
    assert.equal(r.json?.code, 'bad_json');
    assert.match(String(r.json?.message), /Malformed JSON/);
  });

  it('answers bodies over the limit with 413 too_large, declared or streamed', async () => {
    const big = JSON.stringify({ pad: 'x'.repeat(100) });
    const declared = await call('POST', '/things/7', big);
    assert.equal(declared.status, 413);
    assert.equal(declared.json?.code, 'too_large');
    // Chunked (no Content-Length): the limit is counted as the body arrives.
    const streamed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${base}/things/7`, { method: 'POST', headers: { 'content-type': 'application/json' } }, res => {
        let text = '';
        res.on('data', c => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      req.write(big.slice(0, 50));
      req.end(big.slice(50));
    });
    assert.equal(streamed.status, 413);
    assert.equal(JSON.parse(streamed.body).code, 'too_large');
  });

  it('says 405 with Allow for a known path and a wrong method, 404 for an unknown path', async () => {
    const wrong = await call('DELETE', '/things/7');
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get('allow'), 'GET, POST');
    assert.equal(wrong.json?.code, 'method_not_allowed');
    const unknown = await call('GET', '/nothing/here');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json?.code, 'not_found');
    assert.equal((await call('GET', '/things')).status, 404, 'a :param segment must be present');
  });

  it('serves HEAD wherever GET is', async () => {
    const r = await fetch(`${base}/things/1`, { method: 'HEAD' });
    assert.equal(r.status, 200);
  });

  it('maps a thrown WorkspaceError to its status and message, and anything else to a 500 without details', async () => {
    const refused = await call('POST', '/refuse', '{}');
    assert.equal(refused.status, 400);
    assert.deepEqual(refused.json, { message: '"x" must be a number.', code: 'bad_request' });
    const bug = await call('GET', '/bug');
    assert.equal(bug.status, 500);
    assert.equal(bug.json?.code, 'internal');
    assert.doesNotMatch(String(bug.json?.message), /secret/);
    assert.equal(unexpected.length, 1);
  });

  it('adds an error\'s details to its body, never over its message and code', async () => {
    const r = await call('POST', '/over', '{}');
    assert.equal(r.status, 409);
    assert.deepEqual(r.json, { largest: [{ path: 'data', bytes: 5 }], message: 'The home is over its cap.', code: 'over_cap' });
  });

  it('awaits asynchronous handlers', async () => {
    assert.deepEqual((await call('GET', '/slow')).json, { ok: true });
  });

  it('lists its routes with their methods', () => {
    const router = new Router().get('/a', () => undefined).post('/a', () => undefined).put('/b/:id', () => undefined);
    assert.deepEqual([...router.routes()], [
      ['/a', ['GET', 'POST']],
      ['/b/:id', ['PUT']]
    ]);
  });
});
