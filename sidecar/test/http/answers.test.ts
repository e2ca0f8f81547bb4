/**
 * Every refusal the sidecar writes keeps one contract, whichever part of it
 * decided: `message` (for a person) and `code` (one of packages/api's
 * ERROR_CODES) as JSON, with a Content-Length that matches the body and
 * Cache-Control: no-store. The test walks every API route (no credentials,
 * a malformed body, a method it does not take), the front door's own
 * refusals, refused WebSocket upgrades and requests Node cannot parse, and
 * the answers while the workspace is stopped, against a real sidecar; and
 * the pass-through's own answers when Jupyter is not there.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ERROR_CODES } from '@jupyterlab-gpu-workspace/api';
import { JupyterProxy } from '../../src/http/proxy';
import { createLogger } from '../../src/log';
import { concreteRoute, servedRoutes } from '../support/routes';
import { getStatus, login, Sidecar, startSidecar, tokenHeader, waitFor } from '../support/sidecar';

const OPERATOR_TOKEN = 'operator-secret-for-the-answers-test';
const CAP = 200_000;

interface Answer {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
}

/**
 * One raw HTTP/1.1 exchange on a new connection, read until the sidecar
 * closes it (every request here says Connection: close): what the client
 * really receives, byte for byte. The client never half-closes first, so a
 * body that is declared and not sent is still a request in progress.
 */
function exchange(port: number, request: string | Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(30_000, () => socket.destroy(new Error('no complete answer within 30 s')));
    socket.on('data', chunk => chunks.push(chunk));
    let failure: Error | undefined;
    // A reset after the answer arrived (the sidecar closed on bytes it had not read) still leaves the answer.
    socket.on('error', err => (failure = err));
    socket.on('close', () => {
      const raw = Buffer.concat(chunks);
      if (failure && raw.length === 0) {
        reject(failure);
        return;
      }
      const end = raw.indexOf('\r\n\r\n');
      if (end < 0) {
        reject(new Error(`no answer head in ${JSON.stringify(raw.toString('latin1').slice(0, 200))}`));
        return;
      }
      const [statusLine, ...lines] = raw.subarray(0, end).toString('latin1').split('\r\n');
      const headers = new Map(lines.map(l => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: raw.subarray(end + 4) });
    });
    socket.write(request);
  });
}

/** A request that closes its connection after the answer, so the answer's end is the socket's. */
function requestText(port: number, method: string, target: string, headers: Record<string, string> = {}, body = ''): string {
  const all: Record<string, string> = { host: `127.0.0.1:${port}`, connection: 'close', ...headers };
  if (body || method === 'POST' || method === 'PUT') {
    all['content-length'] = String(Buffer.byteLength(body));
  }
  return `${method} ${target} HTTP/1.1\r\n${Object.entries(all).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n${body}`;
}

/** One request from a client that says Host as browsers do (with the port: the login cookie's name depends on it). */
function ask(sidecar: Sidecar, method: string, target: string, headers: Record<string, string> = {}, body = ''): Promise<Answer> {
  return exchange(sidecar.port, requestText(sidecar.port, method, target, headers, body));
}

/** The contract, checked on the bytes: JSON, one of the declared codes, a message, an honest length. */
function assertRefusal(answer: Answer, status: number | number[], what: string): void {
  const text = answer.body.toString('utf8');
  assert.ok((Array.isArray(status) ? status : [status]).includes(answer.status), `${what}: ${answer.status} ${text.slice(0, 300)}`);
  assert.match(answer.headers.get('content-type') ?? '', /^application\/json/, `${what}: content type`);
  assert.equal(answer.headers.get('content-length'), String(answer.body.length), `${what}: Content-Length against the body received`);
  assert.equal(answer.headers.get('cache-control'), 'no-store', `${what}: a refusal is never cached`);
  const body = JSON.parse(text) as { message?: unknown; code?: unknown };
  assert.equal(typeof body.message, 'string', `${what}: message`);
  assert.ok((body.message as string).length > 0, `${what}: an empty message`);
  assert.ok((ERROR_CODES as readonly unknown[]).includes(body.code), `${what}: code ${String(body.code)} is not one of packages/api's`);
}

const WS_HEADERS = { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' };

describe('every refusal carries message and code, as packages/api declares', () => {
  let sidecar: Sidecar;
  let auth: Record<string, string>;
  let api: (route: string) => string;

  before(async () => {
    sidecar = await startSidecar({
      config: { operator: { token: OPERATOR_TOKEN }, home: { cap_bytes: CAP }, snapshots: { schedule_minutes: 0 } }
    });
    auth = { authorization: `token ${sidecar.token}` };
    api = route => new URL(sidecar.apiUrl(route)).pathname;
  });

  after(async () => {
    await sidecar?.stop();
  });

  test('each API route refuses a caller with no credentials (401, or 403 where only the operator token opens it), except the open health check', async () => {
    let walked = 0;
    for (const { method, route } of servedRoutes()) {
      if (route === '/health') {
        continue;
      }
      const answer = await ask(sidecar, method, api(concreteRoute(route)), method === 'GET' ? {} : { 'content-type': 'application/json' }, method === 'GET' ? '' : '{}');
      assertRefusal(answer, [401, 403], `${method} ${route} without credentials`);
      walked += 1;
    }
    assert.ok(walked > 20, `only ${walked} routes walked`);
  });

  test('each API route that takes a body refuses malformed JSON (400), and a body over the limit (413)', async () => {
    let walked = 0;
    for (const { method, route } of servedRoutes().filter(r => r.method === 'POST' || r.method === 'PUT')) {
      const target = api(concreteRoute(route));
      // A body is read only once the caller may call the route: the operator's route gets the operator's token.
      const who = route === '/quota/grants' ? { authorization: `token ${OPERATOR_TOKEN}` } : auth;
      assertRefusal(await ask(sidecar, method, target, { ...who, 'content-type': 'application/json' }, '{"no'), 400, `${method} ${route} with broken JSON`);
      // Declared and never sent: the refusal must come from the declaration, before any of it is read.
      const huge = requestText(sidecar.port, method, target, { ...who, 'content-type': 'application/json' }).replace('content-length: 0', 'content-length: 2000000');
      assertRefusal(await exchange(sidecar.port, huge), 413, `${method} ${route} declaring a 2 MB body`);
      walked += 1;
    }
    assert.ok(walked > 10, `only ${walked} routes walked`);
  });

  test('the router refuses an unknown route (404), a method a route does not take (405), and a path that climbs (404)', async () => {
    assertRefusal(await ask(sidecar, 'GET', api('no-such-route'), auth), 404, 'an unknown route');
    const wrongMethod = await ask(sidecar, 'DELETE', api('status'), auth);
    assertRefusal(wrongMethod, 405, 'DELETE status');
    assert.match(wrongMethod.headers.get('allow') ?? '', /GET/);
    assertRefusal(await ask(sidecar, 'GET', `${api('status')}/../usage`, auth), 404, 'status/../usage');
    assertRefusal(await ask(sidecar, 'POST', api('reset'), { ...auth, 'content-type': 'application/json' }, '{"confirm":"yes"}'), 400, 'a reset without the exact words');
  });

  test("the front door's refusals: Host, tokens that never go to Jupyter, bodies of strangers, the cap, the login form", async () => {
    assertRefusal(await ask(sidecar, 'GET', '/api/contents', { ...auth, host: 'evil.example' }), 403, 'a Host of another site');
    assertRefusal(await ask(sidecar, 'GET', `/api/contents?token=x&token=${OPERATOR_TOKEN}`), 403, 'the operator token as the last ?token=');
    assertRefusal(await ask(sidecar, 'POST', '/api/contents', { 'content-type': 'application/json' }, '{}'), 401, 'a body from someone not logged in');
    const big = JSON.stringify({ type: 'file', format: 'text', content: 'x'.repeat(CAP * 2) });
    assertRefusal(await ask(sidecar, 'PUT', '/api/contents/big.txt', { ...auth, 'content-type': 'application/json' }, big), 413, 'an upload over the cap');
    const form = `password=${'x'.repeat(100_000)}`;
    assertRefusal(await ask(sidecar, 'POST', '/login', { 'content-type': 'application/x-www-form-urlencoded' }, form), 413, 'a login form of 100 kB');
    const cookies = await login(sidecar);
    assertRefusal(
      await ask(sidecar, 'POST', '/api/contents', { cookie: cookies.header, 'content-type': 'application/json' }, '{}'),
      403,
      'a cookie write without the XSRF header'
    );
  });

  test('refused upgrades and requests Node cannot parse are answered on the socket under the same contract', async () => {
    assertRefusal(await ask(sidecar, 'GET', api('events'), { ...auth, ...WS_HEADERS }), 404, 'a WebSocket to the API');
    const kernels = `/api/kernels/00000000-0000-0000-0000-000000000000/channels?token=${sidecar.token}`;
    assertRefusal(await ask(sidecar, 'GET', kernels, { ...WS_HEADERS, origin: 'http://evil.example' }), 403, 'a WebSocket from another site');
    assertRefusal(await ask(sidecar, 'GET', '/lab', { cookie: `a=${'b'.repeat(70 * 1024)}` }), 431, 'headers over 64 KiB');
    assertRefusal(await exchange(sidecar.port, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: x\r\n\r\n'), 400, 'a request Node cannot parse');
  });
});

describe('while the workspace is stopped for inactivity', () => {
  let sidecar: Sidecar;

  before(async () => {
    sidecar = await startSidecar({ config: { idle: { timeout_minutes: 0.1, warning_minutes: 0.05 }, snapshots: { schedule_minutes: 0 } } });
    await waitFor('the idle stop', async () => ((await getStatus(sidecar)).idle.state === 'stopped' ? true : undefined), { timeoutMs: 60_000, intervalMs: 100 });
  });

  after(async () => {
    await sidecar?.stop();
  });

  test("Jupyter's REST routes and WebSockets are refused with 503 stopped", async () => {
    const rest = await ask(sidecar, 'GET', '/api/kernels', tokenHeader(sidecar));
    assertRefusal(rest, 503, 'REST while stopped');
    assert.equal(JSON.parse(rest.body.toString()).code, 'stopped');
    const ws = await ask(sidecar, 'GET', '/api/kernels/00000000-0000-0000-0000-000000000000/channels', { ...tokenHeader(sidecar), ...WS_HEADERS });
    assertRefusal(ws, 503, 'a WebSocket while stopped');
    assert.equal(JSON.parse(ws.body.toString()).code, 'stopped');
  });
});

describe('when Jupyter is not there to answer', () => {
  /** The pass-through alone, in front of a socket path where nothing listens. */
  async function frontOf(running: boolean): Promise<{ port: number; close: () => void }> {
    const proxy = new JupyterProxy({
      socketPath: path.join(os.tmpdir(), `no-jupyter-${process.pid}-${running}.sock`),
      isRunning: () => running,
      waitForJupyter: async () => running,
      log: createLogger('error'),
      jupyterAuthorization: () => 'token unused'
    });
    const server = http.createServer((req, res) => void proxy.web(req, res, { as: 'user' }));
    server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => void proxy.ws(req, socket, head, 'user'));
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
    return { port: (server.address() as net.AddressInfo).port, close: () => { proxy.close(); server.close(); } };
  }

  test('a stopped Jupyter: 503 with Retry-After, for a request and for a WebSocket', async () => {
    const front = await frontOf(false);
    try {
      const rest = await exchange(front.port, requestText(front.port, 'GET', '/api/kernels'));
      assertRefusal(rest, 503, 'REST to a stopped Jupyter');
      assert.equal(rest.headers.get('retry-after'), '5');
      const ws = await exchange(front.port, requestText(front.port, 'GET', '/api/kernels/x/channels', WS_HEADERS));
      assertRefusal(ws, 503, 'a WebSocket to a stopped Jupyter');
      assert.equal(ws.headers.get('retry-after'), '5');
    } finally {
      front.close();
    }
  });

  test('a Jupyter said to run that does not answer: 502, for a request and for a WebSocket', async () => {
    const front = await frontOf(true);
    try {
      assertRefusal(await exchange(front.port, requestText(front.port, 'GET', '/api/kernels')), 502, 'REST to a Jupyter that is not there');
      assertRefusal(await exchange(front.port, requestText(front.port, 'GET', '/api/kernels/x/channels', WS_HEADERS)), 502, 'a WebSocket to a Jupyter that is not there');
    } finally {
      front.close();
    }
  });
});
