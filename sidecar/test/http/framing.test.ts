/**
 * Request framing through the pass-through, against a raw backend that logs
 * every byte it receives (in place of Jupyter on its Unix socket): whatever
 * the method and however the client frames its body, the backend receives
 * exactly one request per client request, framed so that no reader can take
 * its body for another request (request smuggling on the pooled keep-alive
 * connection).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '../../src/log';
import { JupyterProxy } from '../../src/http/proxy';

interface ParsedRequest {
  method: string;
  target: string;
  headers: Map<string, string>;
  body: Buffer;
}

/**
 * A strict HTTP/1.1 request parser, as a backend reads a byte stream: a body
 * is exactly what Content-Length or chunked framing says, nothing else.
 * Returns the requests found and the bytes left over (an incomplete request).
 */
function parseRequests(data: Buffer): { requests: ParsedRequest[]; rest: Buffer } {
  const requests: ParsedRequest[] = [];
  let at = 0;
  for (;;) {
    const end = data.indexOf('\r\n\r\n', at);
    if (end < 0) {
      break;
    }
    const lines = data.subarray(at, end).toString('latin1').split('\r\n');
    const [method, target] = lines[0].split(' ');
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    let pos = end + 4;
    let body: Buffer = Buffer.alloc(0);
    if (headers.get('transfer-encoding')?.toLowerCase() === 'chunked') {
      const parts: Buffer[] = [];
      let complete = false;
      for (;;) {
        const lineEnd = data.indexOf('\r\n', pos);
        if (lineEnd < 0) {
          break;
        }
        const size = parseInt(data.subarray(pos, lineEnd).toString('latin1'), 16);
        if (data.length < lineEnd + 2 + size + 2) {
          break;
        }
        if (size === 0) {
          pos = lineEnd + 4;
          complete = true;
          break;
        }
        parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
        pos = lineEnd + 2 + size + 2;
      }
      if (!complete) {
        break;
      }
      body = Buffer.concat(parts);
    } else if (headers.has('content-length')) {
      const length = Number(headers.get('content-length'));
      if (data.length < pos + length) {
        break;
      }
      body = data.subarray(pos, pos + length);
      pos += length;
    }
    requests.push({ method, target, headers, body });
    at = pos;
  }
  return { requests, rest: data.subarray(at) };
}

/** The backend: answers each request it parses with 200, and keeps everything it read per connection. */
class RawBackend {
  readonly connections: Array<{ bytes: Buffer; requests: ParsedRequest[]; closed: boolean }> = [];
  private readonly server: net.Server;

  constructor(readonly socketPath: string) {
    this.server = net.createServer(socket => {
      const conn: { bytes: Buffer; requests: ParsedRequest[]; closed: boolean } = { bytes: Buffer.alloc(0), requests: [], closed: false };
      this.connections.push(conn);
      let pending: Buffer = Buffer.alloc(0);
      socket.on('data', chunk => {
        conn.bytes = Buffer.concat([conn.bytes, chunk]);
        pending = Buffer.concat([pending, chunk]);
        const { requests, rest } = parseRequests(pending);
        pending = rest;
        for (const r of requests) {
          conn.requests.push(r);
          const answer = r.method === 'HEAD' ? '' : JSON.stringify({ got: r.body.length });
          socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${answer.length}\r\n\r\n${answer}`);
        }
      });
      socket.on('close', () => (conn.closed = true));
      socket.on('error', () => undefined);
    });
  }

  listen(): Promise<void> {
    return new Promise(resolve => this.server.listen(this.socketPath, resolve));
  }

  all(): ParsedRequest[] {
    return this.connections.flatMap(c => c.requests);
  }

  close(): Promise<void> {
    return new Promise(resolve => this.server.close(() => resolve()));
  }
}

let dir: string;
let backend: RawBackend;
let front: http.Server;
let port: number;
let proxy: JupyterProxy;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'framing-'));
  backend = new RawBackend(path.join(dir, 'backend.sock'));
  await backend.listen();
  proxy = new JupyterProxy({
    socketPath: backend.socketPath,
    isRunning: () => true,
    waitForJupyter: async () => true,
    log: createLogger('error'),
    compression: { enabled: false },
    jupyterAuthorization: () => 'token jupyters-own'
  });
  front = http.createServer((req, res) => void proxy.web(req, res, { as: 'user' }));
  await new Promise<void>(resolve => front.listen(0, '127.0.0.1', resolve));
  port = (front.address() as net.AddressInfo).port;
});

after(async () => {
  proxy.close();
  front.closeAllConnections();
  await new Promise(resolve => front.close(resolve));
  await backend.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** How many whole responses (each with a Content-Length body) `data` holds. */
function completeResponses(data: string): number {
  let count = 0;
  let at = 0;
  for (;;) {
    const end = data.indexOf('\r\n\r\n', at);
    if (end < 0) {
      return count;
    }
    const length = Number(/content-length: (\d+)/i.exec(data.slice(at, end))?.[1] ?? 0);
    if (data.length < end + 4 + length) {
      return count;
    }
    count++;
    at = end + 4 + length;
  }
}

/** Sends raw bytes on one keep-alive client connection and reads `answers` responses. */
function rawExchange(bytes: string | Buffer, answers: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`timed out; got ${JSON.stringify(got)}`));
    }, 10_000);
    socket.on('data', d => {
      got += d.toString('latin1');
      if (completeResponses(got) >= answers) {
        clearTimeout(timer);
        socket.end();
        resolve(got);
      }
    });
    socket.on('error', err => {
      clearTimeout(timer);
      reject(err);
    });
    socket.write(bytes);
  });
}

const METHODS = ['GET', 'HEAD', 'DELETE', 'OPTIONS', 'POST', 'PUT', 'PATCH'];
const SMUGGLED = 'GET /api/contents/secret.txt HTTP/1.1\r\nHost: x\r\n\r\n';
const chunk = (s: string): string => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n`;

describe('request framing through the pass-through', () => {
  for (const method of METHODS) {
    for (const framing of ['content-length', 'chunked', 'none'] as const) {
      test(`${method} with ${framing === 'none' ? 'no body' : `a ${framing} body`}: exactly one request reaches the backend, framed`, async () => {
        const before = backend.all().length;
        // The body is itself a complete request: sent unframed, the backend would read it as a second one.
        const body = framing === 'none' ? '' : SMUGGLED;
        const head = `${method} /api/framing-${method.toLowerCase()}-${framing} HTTP/1.1\r\nHost: 127.0.0.1\r\n`;
        const wire =
          framing === 'content-length'
            ? `${head}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
            : framing === 'chunked'
              ? `${head}Transfer-Encoding: chunked\r\n\r\n${chunk(body)}0\r\n\r\n`
              : `${head}\r\n`;
        const answer = await rawExchange(wire, 1);
        assert.match(answer, /^HTTP\/1\.1 200/);
        const seen = backend.all().slice(before);
        assert.equal(seen.length, 1, `the backend read ${seen.length} requests: ${JSON.stringify(seen.map(r => `${r.method} ${r.target}`))}`);
        assert.equal(seen[0].method, method);
        assert.equal(seen[0].body.toString('latin1'), body);
        for (const conn of backend.connections) {
          const { rest } = parseRequests(conn.bytes);
          assert.equal(rest.length, 0, `unframed bytes left on an upstream connection: ${JSON.stringify(rest.toString('latin1'))}`);
        }
      });
    }
  }

  test('the attack: a smuggled request on a GET with a chunked body never becomes a request of its own', async () => {
    const before = backend.all().length;
    const wire =
      `GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(SMUGGLED)}0\r\n\r\n` +
      'GET /api/contents/mine.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
    const answers = await rawExchange(wire, 2);
    assert.equal((answers.match(/HTTP\/1\.1 200/g) ?? []).length, 2);
    const seen = backend.all().slice(before);
    assert.deepEqual(
      seen.map(r => `${r.method} ${r.target}`),
      ['GET /api/status', 'GET /api/contents/mine.txt'],
      'the backend read the smuggled request as one of its own'
    );
  });

  test('a client that leaves in the middle of its body takes the upstream connection with it: it is never reused', async () => {
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.write(`PUT /api/contents/half.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n${'x'.repeat(400)}`);
        resolve();
      });
      socket.on('error', reject);
      // Gone once the backend holds the part that was sent.
      void waitFor(() => backend.connections.some(c => c.bytes.includes('half.bin') && c.bytes.includes('x'.repeat(400))), 'the first part of the body upstream').then(
        () => socket.destroy()
      );
    });
    const carrierOf = (what: string) => backend.connections.find(c => c.bytes.includes(what));
    await waitFor(() => carrierOf('half.bin')?.closed === true, 'the upstream connection of the cut request to close');
    const answer = await rawExchange('GET /api/next HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 1);
    assert.match(answer, /^HTTP\/1\.1 200/);
    const next = carrierOf('/api/next');
    assert.ok(next && next !== carrierOf('half.bin'), 'the next request went on the cut connection');
    assert.equal(parseRequests(next.bytes).rest.length, 0);
    assert.equal(next.requests.filter(r => r.target === '/api/next').length, 1);
  });
});

async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise(r => setTimeout(r, 20));
  }
}
