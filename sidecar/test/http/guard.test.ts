/**
 * The front door's checks on their own: Host names (DNS rebinding), the
 * operator token never going to Jupyter, foreign-Origin WebSockets, and whose
 * X-Forwarded-* headers are believed.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { FrontDoorAuth } from '../../src/http/auth';
import { createGuard, GuardOptions, hostName } from '../../src/http/guard';
import { SessionKeys } from '../../src/http/session';

const OPERATOR = 'operator-token-0123456789abcdef';
const KERNEL = 'kernel-token-0123456789abcdef';
const JUPYTERS = 'jupyters-own-token-0123456789abcdef';

/** The guard with the tokens it protects (the workspace token itself is no business of the guard's). */
function makeGuard(options: Omit<GuardOptions, 'auth'>, operatorToken: string | undefined = OPERATOR) {
  const auth = new FrontDoorAuth({
    token: 'workspace-token-0123456789',
    kernelToken: KERNEL,
    operatorToken,
    jupyterToken: () => JUPYTERS,
    sessions: new SessionKeys(Buffer.alloc(32, 7)),
    identity: { username: 'user' }
  });
  return createGuard({ ...options, auth });
}

function request(headers: Record<string, string>, url = '/lab', remoteAddress = '127.0.0.1'): IncomingMessage {
  return { headers, url, socket: { remoteAddress } } as unknown as IncomingMessage;
}

const guard = makeGuard({ allowedHosts: [], listenHost: '127.0.0.1', trustedProxies: ['10.0.0.5'] });

test('the Host header names a host with or without port, IPv6 in brackets', () => {
  assert.equal(hostName('Example.ORG:8888'), 'example.org');
  assert.equal(hostName('[::1]:8888'), '::1');
  assert.equal(hostName('127.0.0.1'), '127.0.0.1');
});

test('a request naming this machine passes; one naming another host is refused (DNS rebinding)', () => {
  assert.doesNotThrow(() => guard.check(request({ host: '127.0.0.1:8888' }), 'jupyter', false));
  assert.doesNotThrow(() => guard.check(request({ host: 'localhost:8888' }), 'api', false));
  assert.throws(() => guard.check(request({ host: 'evil.example:8888' }), 'jupyter', false), (e: { status?: number }) => e.status === 403);
  assert.throws(() => guard.check(request({}), 'jupyter', false), /not allowed/);
});

test('an operator can allow a public name, or any host with "*"', () => {
  const hub = makeGuard({ allowedHosts: ['hub.example.edu'], listenHost: '0.0.0.0', trustedProxies: [] }, undefined);
  assert.doesNotThrow(() => hub.check(request({ host: 'hub.example.edu' }), 'jupyter', false));
  assert.throws(() => hub.check(request({ host: 'localhost' }), 'jupyter', false));
  const any = makeGuard({ allowedHosts: ['*'], listenHost: '0.0.0.0', trustedProxies: [] }, undefined);
  assert.doesNotThrow(() => any.check(request({ host: 'whatever.example' }), 'jupyter', false));
});

test('the operator token never goes to Jupyter, by header or in the URL', () => {
  assert.throws(() => guard.check(request({ host: 'localhost', authorization: `token ${OPERATOR}` }), 'jupyter', false), /never passed on to Jupyter/);
  assert.throws(() => guard.check(request({ host: 'localhost' }, `/api/contents?token=${OPERATOR}`), 'jupyter', false), /never passed on/);
  assert.doesNotThrow(() => guard.check(request({ host: 'localhost', authorization: `token ${OPERATOR}` }), 'api', false));
});

test('a cookie WebSocket from another origin is refused; from the page\'s own origin it passes', () => {
  const ws = (origin: string) => request({ host: '127.0.0.1:8888', cookie: 'username-127-0-0-1-8888="x"', origin });
  assert.throws(() => guard.check(ws('http://evil.example'), 'jupyter', true), /WebSocket refused/);
  assert.doesNotThrow(() => guard.check(ws('http://127.0.0.1:8888'), 'jupyter', true));
});

test('X-Forwarded-* headers are believed only from a trusted proxy', () => {
  assert.equal(guard.trustsForwardedHeaders(request({}, '/', '10.0.0.5')), true);
  assert.equal(guard.trustsForwardedHeaders(request({}, '/', '::ffff:10.0.0.5')), true);
  assert.equal(guard.trustsForwardedHeaders(request({}, '/', '127.0.0.1')), false);
});

test('the kernel token reaches the API on loopback whatever allowed_hosts says, and never goes to Jupyter', () => {
  const kernelToken = KERNEL;
  const hub = makeGuard({ allowedHosts: ['hub.example.edu'], listenHost: '0.0.0.0', trustedProxies: [] }, undefined);
  const auth = { host: '127.0.0.1:8888', authorization: `token ${kernelToken}` };
  assert.doesNotThrow(() => hub.check(request(auth, '/gpu-workspace/api/v1/leases'), 'api', false));
  assert.throws(() => hub.check(request({ host: '127.0.0.1:8888', authorization: 'token something-else' }), 'api', false), /not allowed/);
  assert.throws(() => hub.check(request({ ...auth, host: 'evil.example' }), 'api', false), /not allowed/);
  assert.throws(() => hub.check(request(auth, '/api/contents'), 'jupyter', false), /never passed on to Jupyter/);
  assert.throws(() => hub.check(request({ host: 'hub.example.edu' }, `/api/kernels?token=${kernelToken}`), 'jupyter', true), /never passed on to Jupyter/);
});
