/**
 * No input takes the front door down. A generated corpus of malformed
 * request lines, targets, headers and bodies (deterministic: a seeded
 * generator, so a failure can be replayed), plus the requests that used to
 * kill the sidecar, is sent raw over TCP to a real sidecar in front of a real
 * Jupyter. Afterwards the sidecar still runs, logged no unexpected error, and
 * a kernel still executes code through it.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { execute, openWebSocket } from '../support/kernel';
import { fetchJson, isRunning, Sidecar, startKernel, startSidecar } from '../support/sidecar';

const OPERATOR_TOKEN = 'operator-secret-for-the-fuzz-test';
const GENERATED_CASES = 1200;
const SEED = 0x5eed_1234;

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const API = '/gpu-workspace/api/v1';

/** The requests that used to crash the sidecar (issue: a crash by one request), as plain and upgrade requests. */
function knownKillers(): string[] {
  const targets = ['//', '///', '//@', '//[', '//:99999/', '//@/api', '///?token=x', `//${API}/status`];
  const out: string[] = [];
  for (const target of targets) {
    for (const host of ['127.0.0.1', 'evil.example', '']) {
      out.push(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      out.push(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
    }
  }
  return out;
}

function corpus(count: number, token: string): string[] {
  const rnd = generator(SEED);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)];
  const junk = (n: number): string => Array.from({ length: n }, () => String.fromCharCode(32 + Math.floor(rnd() * 95))).join('');
  const methods = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT', 'get', 'G3T', 'PROPFIND', ''];
  const paths = [
    '/', '//', '///', '//@', '//[', '//:99999/', '*', 'http://evil.example/', 'http://[', '/%', '/%zz', '/%00', '/a%2f..%2f..',
    '/lab', '/lab?token=', '/lab?token=%', '/login', '/logout', '/api', '/api/contents', '/api/contents/../../etc/passwd',
    '/api/kernels', '/api/kernels/00000000-0000-0000-0000-000000000000/channels', '/static/lab/', '/static/lab/x.js?v=',
    API, `${API}/`, `${API}/status`, `${API}/status/../usage`, `${API}/%2e%2e/status`, `${API}/snapshots/%/files`, `${API}/leases/x/heartbeat`,
    `${API}/events`, `${API}/quota/grants`, `${API}/reset`, `${API}/submit`, `${API}/snapshots/..%2F..%2Fetc/restore`
  ];
  const queries = ['', '?', '?token', `?token=${token}`, `?token=x&token=${token}`, `?token=${OPERATOR_TOKEN}`, `?token=x&token=${OPERATOR_TOKEN}`,
    '?token=%zz', '?_xsrf=1', '?next=//evil', '#?token=x', `?a=1#&token=${OPERATOR_TOKEN}`, '?' + '&'.repeat(200), '?v=' + 'x'.repeat(3000)];
  const versions = ['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'HTTP/1.1 extra', ''];
  const hosts = ['127.0.0.1', 'localhost', 'evil.example', '', '[', '[::1', '::', '127.0.0.1:99999', 'a'.repeat(300)];
  const authorizations = [
    `token ${token}`, `Bearer ${token}`, `token ${OPERATOR_TOKEN}`, 'token', 'token  ', 'Basic !!!', `Basic ${Buffer.from(`x:${OPERATOR_TOKEN}`).toString('base64')}`,
    `Basic ${Buffer.from(token).toString('base64')}`, 'Digest x', `token ${token} extra`, '\u00ff\u00fe'
  ];
  const cookies = ['_xsrf=', '=', ';;;', 'gpu-workspace-session-127-0-0-1=1.2.3', `gpu-workspace-session-127-0-0-1=1.1.${'0'.repeat(64)}`,
    'username-x="2|1:0|10:1|4:name|4:YQ==|abc"', '_xsrf=2|zz|zz|1', '_xsrf=2|||', 'a=' + 'b'.repeat(2000)];
  const origins = ['null', 'http://[', '://', 'http://evil.example', 'http://127.0.0.1', 'file://', ''];
  const encodings = ['chunked', 'chunked, chunked', 'gzip, chunked', 'gzip', ' chunked', 'identity', 'chunked\u0000'];
  const lengths = ['-1', '1e99', '5, 5', 'abc', '0', '10', '99999999999999999999', ''];
  const bodies = ['', 'x', '0\r\n\r\n', 'zz\r\nabc\r\n0\r\n\r\n', '5\r\nab', `GET /api/contents HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: token ${token}\r\n\r\n`,
    '{"confirm": "Reset data"}', `password=${token}&_xsrf=x`, junk(40)];

  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const method = pick(methods);
    const target = rnd() < 0.1 ? junk(1 + Math.floor(rnd() * 30)) : pick(paths) + pick(queries);
    const lines = [`${method} ${target} ${pick(versions)}`.trim()];
    if (rnd() < 0.9) lines.push(`Host: ${pick(hosts)}`);
    if (rnd() < 0.1) lines.push(`Host: ${pick(hosts)}`);
    if (rnd() < 0.4) lines.push(`Authorization: ${pick(authorizations)}`);
    if (rnd() < 0.4) lines.push(`Cookie: ${pick(cookies)}${rnd() < 0.5 ? '; ' + pick(cookies) : ''}`);
    if (rnd() < 0.2) lines.push(`Origin: ${pick(origins)}`);
    if (rnd() < 0.1) lines.push(`Sec-Fetch-Site: ${pick(['cross-site', 'same-origin', 'none', ''])}`);
    if (rnd() < 0.1) lines.push(`X-XSRFToken: ${pick(['', 'x', '2|00|00|1', '2|zz'])}`);
    if (rnd() < 0.15) lines.push('Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', `Sec-WebSocket-Key: ${pick(['dGhlIHNhbXBsZSBub25jZQ==', '', '!!!'])}`);
    if (rnd() < 0.25) lines.push(`Transfer-Encoding: ${pick(encodings)}`);
    if (rnd() < 0.25) lines.push(`Content-Length: ${pick(lengths)}`);
    if (rnd() < 0.1) lines.push(`Content-Type: ${pick(['application/json', 'application/x-www-form-urlencoded', 'text/plain', junk(10)])}`);
    if (rnd() < 0.05) lines.push('Expect: 100-continue');
    if (rnd() < 0.05) lines.push(`X-${junk(5).replace(/[^A-Za-z]/g, 'a')}: ${junk(20)}`);
    if (rnd() < 0.03) lines.push(junk(15));
    if (rnd() < 0.02) lines.push(`Big: ${'x'.repeat(70 * 1024)}`);
    const body = pick(bodies);
    const raw = `${lines.join('\r\n')}\r\n\r\n${body}`;
    // The real token only where it changes nothing: a fuzzed reset or restart that went through would
    // test the reset, not the front door.
    out.push(method === 'GET' || method === 'HEAD' ? raw : raw.split(token).join('not-the-token'));
  }
  return out;
}

/** Sends one raw request and half-closes: resolves with what came back (possibly nothing) once the server closes. */
function sendRaw(port: number, bytes: string, timeoutMs = 5000): Promise<string> {
  return new Promise(resolve => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(got);
    };
    const timer = setTimeout(done, timeoutMs);
    socket.on('data', d => {
      got += d.toString('latin1');
    });
    socket.on('close', done);
    socket.on('error', done);
    socket.end(Buffer.from(bytes, 'latin1'));
  });
}

async function inBatches<T>(items: T[], width: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        await run(items[next++]);
      }
    })
  );
}

let sidecar: Sidecar;

before(async () => {
  sidecar = await startSidecar({ config: { operator: { token: OPERATOR_TOKEN } } });
});

after(async () => {
  await sidecar?.stop();
});

describe('malformed input at the front door', () => {
  test(`${GENERATED_CASES} generated malformed requests and the known killers leave the workspace running, with a kernel that works`, async () => {
    const cases = [...knownKillers(), ...corpus(GENERATED_CASES, sidecar.token)];
    assert.ok(cases.length >= 1000);
    const statuses = new Map<string, number>();
    await inBatches(cases, 16, async bytes => {
      const answer = await sendRaw(sidecar.port, bytes);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1] ?? 'none';
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    });
    assert.ok(isRunning(sidecar.pid), 'the sidecar died');
    const unexpected = sidecar
      .stderr()
      .split('\n')
      .filter(line => /unexpected error at the front door|unhandled API error|uncaught/i.test(line));
    assert.deepEqual(unexpected, [], 'an input reached a code path that did not expect it');
    assert.equal(statuses.get('500') ?? 0, 0, `answers by status: ${JSON.stringify(Object.fromEntries(statuses))}`);
    const health = await fetchJson(sidecar.apiUrl('health'));
    assert.equal(health.status, 200);
    const kernelId = await startKernel(sidecar);
    const ws = await openWebSocket(sidecar.url(`api/kernels/${kernelId}/channels?token=${sidecar.token}`).replace(/^http/, 'ws'));
    try {
      const { stdout } = await execute(ws, 'print(6 * 7)');
      assert.equal(stdout.trim(), '42');
    } finally {
      ws.close();
    }
  });
});
