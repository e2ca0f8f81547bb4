/**
 * A client that reuses its keep-alive connections never gets a reset it did
 * not cause. Raw clients send 10,000 requests (GET and POST, to Jupyter and
 * to the API) on connections they keep, each time waiting until just before
 * the front door's keep-alive timeout (set short here) before reusing the
 * connection, while the sidecar's own pool towards Jupyter expires its idle
 * connections between requests too.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Sidecar, startSidecar } from '../support/sidecar';

const KEEP_ALIVE_S = 0.3;
const CONNECTIONS = 250;
const REQUESTS_PER_CONNECTION = 40;

let sidecar: Sidecar;

before(async () => {
  sidecar = await startSidecar({ config: { front_door: { keep_alive_timeout_seconds: KEEP_ALIVE_S, upstream_idle_seconds: 0.1 } } });
});

after(async () => {
  await sidecar?.stop();
});

/** Length of the first whole response in `data`, or -1 while it is incomplete. */
function responseLength(data: Buffer): number {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) {
    return -1;
  }
  const length = Number(/content-length: *(\d+)/i.exec(data.subarray(0, end).toString('latin1'))?.[1] ?? 0);
  return data.length >= end + 4 + length ? end + 4 + length : -1;
}

type Outcome = 'ok' | 'reset' | 'closed' | 'bad-status';

/** The first lines of answers that were not a success, to say what went wrong. */
const badAnswers: string[] = [];

/** One client: a connection it keeps, `count` requests, each after a pause just short of the keep-alive timeout. */
function client(index: number, count: number): Promise<Record<Outcome, number>> {
  const tally: Record<Outcome, number> = { ok: 0, reset: 0, closed: 0, 'bad-status': 0 };
  const api = `/gpu-workspace/api/v1`;
  const requests = [
    'GET /api HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
    `GET ${api}/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
    `POST ${api}/activity HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: token ${sidecar.token}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`,
    `GET /api/contents HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: token ${sidecar.token}\r\n\r\n`
  ];
  return new Promise(resolve => {
    let socket: net.Socket;
    let sent = 0;
    let pending: Buffer = Buffer.alloc(0);
    let waiting = false;
    const connect = (): void => {
      socket = net.connect(sidecar.port, '127.0.0.1');
      socket.on('data', onData);
      socket.on('error', (err: NodeJS.ErrnoException) => fail(err.code === 'ECONNRESET' || err.code === 'EPIPE' ? 'reset' : 'closed'));
      socket.on('end', () => fail('closed'));
    };
    const fail = (how: Outcome): void => {
      if (!waiting) {
        return; // closed between requests, as the client itself ended it: not a failure
      }
      waiting = false;
      tally[how]++;
      socket.destroy();
      connect();
      next();
    };
    const next = (): void => {
      if (sent === count) {
        socket.end();
        resolve(tally);
        return;
      }
      const request = requests[(index + sent) % requests.length];
      sent++;
      waiting = true;
      pending = Buffer.alloc(0);
      socket.write(request);
    };
    const onData = (chunk: Buffer): void => {
      pending = Buffer.concat([pending, chunk]);
      const length = responseLength(pending);
      if (length < 0 || !waiting) {
        return;
      }
      waiting = false;
      const answer = pending.subarray(0, length).toString('latin1');
      const good = /^HTTP\/1\.1 (200|201|204)/.test(answer);
      tally[good ? 'ok' : 'bad-status']++;
      if (!good && badAnswers.length < 5) {
        badAnswers.push(`${requests[(index + sent - 1) % requests.length].split('\r\n')[0]} → ${answer.split('\r\n')[0]} ${answer.slice(answer.indexOf('\r\n\r\n') + 4, answer.indexOf('\r\n\r\n') + 200)}`);
      }
      // Just before the edge: from 60 to 99 % of the keep-alive timeout, spread over the clients.
      const pause = KEEP_ALIVE_S * 1000 * (0.6 + 0.39 * (((index * 7 + sent * 13) % 100) / 100));
      setTimeout(next, pause);
    };
    connect();
    next();
  });
}

describe('keep-alive at the edge of the timeouts', () => {
  test(`${CONNECTIONS * REQUESTS_PER_CONNECTION} requests reusing connections just before the timeout see no reset`, async () => {
    const tallies = await Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => client(i, REQUESTS_PER_CONNECTION)));
    const total = tallies.reduce(
      (sum, t) => ({ ok: sum.ok + t.ok, reset: sum.reset + t.reset, closed: sum.closed + t.closed, 'bad-status': sum['bad-status'] + t['bad-status'] }),
      { ok: 0, reset: 0, closed: 0, 'bad-status': 0 }
    );
    const warnings = sidecar
      .stderr()
      .split('\n')
      .filter(line => line.includes('"level":"warn"'))
      .slice(0, 5);
    assert.deepEqual(total, { ok: CONNECTIONS * REQUESTS_PER_CONNECTION, reset: 0, closed: 0, 'bad-status': 0 }, [...badAnswers, ...warnings].join('\n'));
  });
});
