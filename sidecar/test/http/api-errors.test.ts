/**
 * What the API answers when a handler has a bug: 500 `internal` with a
 * message that tells nothing of the code, logged once, and the next request
 * is served. A real sidecar has no handler that throws on purpose, so the
 * API is built here with a status source that throws; everything between the
 * socket and the handler (express, the middleware, the error mapping) is the
 * real one.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { ApiDeps, createApi } from '../../src/http/api';
import type { Caller, FrontDoorAuth } from '../../src/http/auth';
import { createLogger } from '../../src/log';

const PREFIX = '/base/gpu-workspace/api/v1';
const logged: string[] = [];
let server: http.Server;
let base: string;
let calls = 0;

before(async () => {
  const caller: Caller = { identity: { username: 'alice' }, via: 'token', scope: 'user' };
  const log = createLogger('error', 'api', line => logged.push(line));
  const deps = {
    prefix: PREFIX,
    auth: { authenticate: () => caller, isOperator: () => false } as unknown as FrontDoorAuth,
    idle: { isStopped: false, status: () => ({}) },
    supervisor: {
      status: () => {
        calls += 1;
        if (calls === 1) {
          throw new Error('a bug with a secret stack');
        }
        return { state: 'running' };
      }
    },
    gpu: { status: () => ({}), quotaStatus: () => ({}) },
    isolation: {},
    operatorToken: undefined,
    maxBodyBytes: 1024,
    log
  } as unknown as ApiDeps;
  server = http.createServer(createApi(deps));
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}${PREFIX}`;
});

after(() => server.close());

test('a bug in a handler answers 500 internal without details, is logged once, and the next request is served', async () => {
  const res = await fetch(`${base}/status`);
  assert.equal(res.status, 500);
  const body = (await res.json()) as { message: string; code: string };
  assert.equal(body.code, 'internal');
  assert.doesNotMatch(body.message, /secret|stack|Error/);
  assert.equal(res.headers.get('content-length'), String(Buffer.byteLength(JSON.stringify(body))));
  assert.equal(logged.length, 1);
  assert.match(logged[0], /a bug with a secret stack/);
  const again = await fetch(`${base}/status`);
  assert.equal(again.status, 200);
  assert.equal(((await again.json()) as { jupyter: { state: string } }).jupyter.state, 'running');
});
