/**
 * The front door compresses what Jupyter sends, as each browser asks, keeps
 * compressed copies of immutable assets only, leaves WebSockets alone, and
 * does not mistake a browser that leaves for a failure.
 *
 * Jupyter runs with debug logging, which the sidecar copies into its own log
 * at debug level: every request that reaches Jupyter leaves a line there, so
 * the tests can count what Jupyter itself was asked.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { Socket } from 'node:net';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as zlib from 'node:zlib';
import WebSocket from 'ws';
import { login, REPO_ROOT, Sidecar, startKernel, startSidecar, tokenHeader, waitFor
} from '../support/sidecar';
import { execute, openWebSocket } from '../support/kernel';

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body exactly as it came over the wire (still compressed, if it was). */
  body: Buffer;
}

/** A GET that shows the wire: no automatic decompression, no shared connection. */
function rawGet(target: { url: string } | { socketPath: string; path: string }, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const options: http.RequestOptions =
      'url' in target
        ? { ...urlParts(target.url), headers, agent: false }
        : { socketPath: target.socketPath, path: target.path, headers: { host: 'localhost', ...headers }, agent: false };
    const req = http.get(options, res => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`GET ${JSON.stringify(target)} timed out`)));
    req.on('error', reject);
  });
}

function urlParts(url: string): { host: string; port: number; path: string } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port), path: u.pathname + u.search };
}

function decode(res: RawResponse): Buffer {
  switch (res.headers['content-encoding']) {
    case 'br':
      return zlib.brotliDecompressSync(res.body);
    case 'gzip':
      return zlib.gunzipSync(res.body);
    case undefined:
      return res.body;
    default:
      throw new Error(`unexpected Content-Encoding ${res.headers['content-encoding']}`);
  }
}

function varyHasAcceptEncoding(res: RawResponse): boolean {
  return /(^|,)\s*accept-encoding\s*(,|$)/i.test(String(res.headers.vary ?? ''));
}

const BROWSER = 'gzip, deflate, br, zstd';

describe('compression at the front door', () => {
  let sidecar: Sidecar;
  let jupyterSocket: string;

  /** Requests Jupyter logged so far for exactly this path and query (GET lines of its access log). */
  const upstreamGets = (pathAndQuery: string): number =>
    sidecar
      .stderr()
      .split('\n')
      .filter(line => line.includes('"component":"supervisor"') && line.includes(` GET ${pathAndQuery} `)).length;

  /**
   * Jupyter's log reaches us asynchronously. A marker request that surely goes
   * to Jupyter, once logged, means every earlier request has been logged too.
   */
  const drainJupyterLog = async (): Promise<void> => {
    const marker = `marker-${randomUUID()}`;
    const res = await rawGet({ url: sidecar.url(`api/status?${marker}=1`) }, tokenHeader(sidecar));
    assert.equal(res.status, 200);
    await waitFor(`Jupyter's log line for ${marker}`, () => (sidecar.stderr().includes(marker) ? true : undefined));
  };

  before(async () => {
    // LabApp (the /lab page) and ServerApp (everything else) each have their own log level.
    const debug = ['--ServerApp.log_level=DEBUG', '--LabApp.log_level=DEBUG'];
    sidecar = await startSidecar({ config: { log_level: 'debug', jupyter: { extra_args: debug } } });
    jupyterSocket = path.join(sidecar.dirs.stateDir, 'run', 'jupyter.sock');
    assert.ok(fs.existsSync(jupyterSocket), `no Jupyter socket at ${jupyterSocket}`);
  });

  after(async () => {
    await sidecar?.stop();
  });

  /** JupyterLab's main bundle, as the /lab page names it: content-hashed and immutable. */
  const mainBundle = async (): Promise<string> => {
    const page = await rawGet({ url: sidecar.readyUrl });
    const src = /src="([^"]*\/static\/lab\/main\.[^"]+\.js[^"]*)"/.exec(page.body.toString('utf8'))?.[1];
    assert.ok(src, `no main bundle in the /lab page (${page.status})`);
    return src.replaceAll('&amp;', '&');
  };

  test('serves a static asset as brotli, gzip or plain as asked, keeping one compressed copy per coding', async () => {
    const asset = await mainBundle();
    const original = await rawGet({ socketPath: jupyterSocket, path: asset });
    assert.equal(original.status, 200);
    assert.match(String(original.headers['cache-control']), /immutable/);
    const url = `${sidecar.origin}${asset}`;

    const br1 = await rawGet({ url }, { 'accept-encoding': BROWSER });
    const br2 = await rawGet({ url }, { 'accept-encoding': BROWSER });
    const gzip1 = await rawGet({ url }, { 'accept-encoding': 'gzip, deflate' });
    const gzip2 = await rawGet({ url }, { 'accept-encoding': 'br;q=0.1, gzip;q=0.9' });
    const plain = await rawGet({ url }, { 'accept-encoding': 'identity, deflate;q=0.5' });
    for (const [name, res, coding] of [
      ['br1', br1, 'br'],
      ['br2', br2, 'br'],
      ['gzip1', gzip1, 'gzip'],
      ['gzip2', gzip2, 'gzip'],
      ['plain', plain, undefined]
    ] as const) {
      assert.equal(res.status, 200, name);
      assert.equal(res.headers['content-encoding'], coding, `${name}: Content-Encoding`);
      assert.ok(varyHasAcceptEncoding(res), `${name}: Vary is ${res.headers.vary}`);
      assert.ok(decode(res).equals(original.body), `${name}: the decoded body differs from Jupyter's own`);
      if (res.headers['content-length'] !== undefined) {
        assert.equal(Number(res.headers['content-length']), res.body.length, `${name}: Content-Length`);
      }
      assert.equal(res.headers['cache-control'], original.headers['cache-control'], `${name}: Cache-Control`);
    }
    assert.ok(br1.body.length < original.body.length / 3, `brotli made ${original.body.length} bytes only ${br1.body.length}`);

    // The first request of each coding was Jupyter's answer, compressed on the way;
    // the second came from the kept copy (Age marks that, RFC 9111) without asking Jupyter.
    assert.equal(br1.headers.age, undefined);
    assert.notEqual(br2.headers.age, undefined, 'the second brotli request was not served from the kept copy');
    assert.equal(gzip1.headers.age, undefined);
    assert.notEqual(gzip2.headers.age, undefined, 'the second gzip request was not served from the kept copy');
    assert.ok(br2.body.equals(br1.body) && gzip2.body.equals(gzip1.body));
    await drainJupyterLog();
    // Our own identity GET on the socket, br1, gzip1 and the plain one: not br2, not gzip2.
    assert.equal(upstreamGets(asset), 4, `Jupyter saw ${upstreamGets(asset)} GETs of ${asset}`);
  });

  test('a query never makes another kept copy: ?v=<anything> is served from the one copy, without asking Jupyter', async () => {
    const asset = (await mainBundle()).split('?')[0];
    const original = await rawGet({ socketPath: jupyterSocket, path: `${asset}?v=first` });
    const markers = Array.from({ length: 40 }, () => randomUUID());
    await rawGet({ url: `${sidecar.origin}${asset}?v=warm` }, { 'accept-encoding': BROWSER });
    for (const v of markers) {
      const res = await rawGet({ url: `${sidecar.origin}${asset}?v=${v}` }, { 'accept-encoding': BROWSER });
      assert.equal(res.status, 200);
      assert.notEqual(res.headers.age, undefined, `?v=${v} was not served from the kept copy`);
      assert.ok(decode(res).equals(original.body));
    }
    await drainJupyterLog();
    const asked = markers.filter(v => sidecar.stderr().includes(`v=${v}`));
    assert.deepEqual(asked, [], 'Jupyter was asked for a version the kept copy answers');
  });

  test('a burst of first requests for an asset compresses it once: the others go out as they are', async () => {
    const staticDir = path.join(REPO_ROOT, '.venv', 'lib');
    const labStatic = fs
      .readdirSync(staticDir)
      .map(py => path.join(staticDir, py, 'site-packages', 'jupyterlab', 'static'))
      .find(dir => fs.existsSync(dir)) as string;
    const biggest = fs
      .readdirSync(labStatic)
      .filter(name => name.endsWith('.js'))
      .map(name => ({ name, size: fs.statSync(path.join(labStatic, name)).size }))
      .sort((a, b) => b.size - a.size)[0];
    assert.ok(biggest && biggest.size > 100_000, 'no large JupyterLab bundle to ask for');
    const asset = `${sidecar.baseUrl}static/lab/${biggest.name}`;
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => rawGet({ url: `${sidecar.origin}${asset}?v=${randomUUID()}` }, { 'accept-encoding': BROWSER }))
    );
    for (const res of answers) {
      assert.equal(res.status, 200);
    }
    const compressedFresh = answers.filter(res => res.headers['content-encoding'] === 'br' && res.headers.age === undefined);
    assert.equal(compressedFresh.length, 1, `${compressedFresh.length} of 10 first requests were compressed for themselves`);
    const later = await rawGet({ url: `${sidecar.origin}${asset}?v=${randomUUID()}` }, { 'accept-encoding': BROWSER });
    assert.notEqual(later.headers.age, undefined, 'the one compressed copy was not kept');
  });

  test('answers a kept asset with 304 when the browser has it', async () => {
    const asset = await mainBundle();
    const url = `${sidecar.origin}${asset}`;
    const first = await rawGet({ url }, { 'accept-encoding': BROWSER });
    const lastModified = first.headers['last-modified'];
    assert.ok(lastModified, 'no Last-Modified');
    const again = await rawGet({ url }, { 'accept-encoding': BROWSER, 'if-modified-since': lastModified });
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);
    assert.notEqual(again.headers.age, undefined, 'the 304 did not come from the kept copy');
  });

  test('compresses JSON above the threshold and leaves small JSON alone', async () => {
    fs.writeFileSync(path.join(sidecar.dirs.home, 'small.txt'), 'tiny\n');
    fs.writeFileSync(path.join(sidecar.dirs.home, 'large.txt'), 'a line of text in a larger file\n'.repeat(200));
    const get = (name: string): Promise<RawResponse> =>
      rawGet({ url: sidecar.url(`api/contents/${name}?content=1&format=text&type=file`) }, { ...tokenHeader(sidecar), 'accept-encoding': BROWSER });

    const large = await get('large.txt');
    assert.equal(large.status, 200);
    assert.equal(large.headers['content-encoding'], 'br');
    assert.ok(varyHasAcceptEncoding(large));
    const model = JSON.parse(decode(large).toString('utf8')) as { content: string };
    assert.equal(model.content, fs.readFileSync(path.join(sidecar.dirs.home, 'large.txt'), 'utf8'));
    assert.ok(decode(large).length >= 1024 && large.body.length < decode(large).length / 4);
    const largeAgain = await get('large.txt');
    assert.equal(largeAgain.headers['content-encoding'], 'br');
    assert.equal(largeAgain.headers.age, undefined, 'an API answer must never come from the kept copies');

    const small = await get('small.txt');
    assert.equal(small.status, 200);
    assert.equal(small.headers['content-encoding'], undefined);
    assert.ok(small.body.length < 1024, `small.txt's model is ${small.body.length} bytes`);
    assert.equal((JSON.parse(small.body.toString('utf8')) as { content: string }).content, 'tiny\n');
  });

  test("never answers one browser's /lab page from another's", async () => {
    const labPath = `${sidecar.baseUrl}lab`;
    await drainJupyterLog();
    const before = upstreamGets(labPath);
    const cookies = await login(sidecar);
    const mine = await rawGet({ url: sidecar.url('lab') }, { cookie: cookies.header, 'accept-encoding': BROWSER });
    assert.equal(mine.status, 200);
    const page = decode(mine).toString('utf8');
    assert.ok(page.includes('jupyter-config-data'), 'the logged-in page has no page config');
    assert.equal(mine.headers.age, undefined);

    // A browser that is not logged in, asking for the same URL the same way.
    const stranger = await rawGet({ url: sidecar.url('lab') }, { 'accept-encoding': BROWSER });
    assert.notEqual(stranger.status, 200, `a stranger got the /lab page (${stranger.status})`);
    assert.ok(!decode(stranger).toString('utf8').includes(cookies.xsrf), "a stranger's answer carries the logged-in XSRF token");
    assert.equal(stranger.headers.age, undefined);

    const mineAgain = await rawGet({ url: sidecar.url('lab') }, { cookie: cookies.header, 'accept-encoding': BROWSER });
    assert.equal(mineAgain.status, 200);
    assert.equal(mineAgain.headers.age, undefined);
    await drainJupyterLog();
    // Jupyter answered every one of them itself, login() included: the front door takes ?token= off
    // the URL (the workspace token is never Jupyter's to see), so that one reached it as GET /lab too.
    assert.equal(upstreamGets(labPath) - before, 4, `Jupyter saw ${upstreamGets(labPath) - before} GETs of ${labPath}`);
  });

  test('still carries kernel WebSockets, and relays a refused upgrade as Jupyter answered it', async () => {
    const kernelId = await startKernel(sidecar);
    const ws = await openWebSocket(sidecar.url(`api/kernels/${kernelId}/channels?token=${sidecar.token}`).replace(/^http/, 'ws'));
    try {
      const { stdout, reply } = await execute(ws, "print('z' * 5000)");
      assert.equal(reply.content.status, 'ok');
      assert.equal(stdout.trim(), 'z'.repeat(5000));
    } finally {
      ws.close();
    }
    await assert.rejects(
      openWebSocket(sidecar.url(`api/kernels/${randomUUID()}/channels?token=${sidecar.token}`).replace(/^http/, 'ws')),
      /refused with 404/
    );
  });

  test('logs no warning when browsers leave in the middle of a response', async () => {
    const warningsBefore = warnings(sidecar);
    fs.writeFileSync(path.join(sidecar.dirs.home, 'big.bin'), Buffer.alloc(64 * 1024 * 1024, 7));
    fs.writeFileSync(path.join(sidecar.dirs.home, 'big.txt'), 'some text that compresses\n'.repeat(2_000_000));
    for (const [file, acceptEncoding] of [
      ['big.bin', BROWSER],
      ['big.txt', BROWSER],
      ['big.txt', 'identity']
    ]) {
      for (const how of ['close', 'reset'] as const) {
        await leaveMidResponse(sidecar.url(`files/${file}?token=${sidecar.token}`), acceptEncoding, how);
      }
    }
    // A kernel printing without pause, and a tab that vanishes (a reset, no close frame).
    const kernelId = await startKernel(sidecar);
    const ws = new WebSocket(sidecar.url(`api/kernels/${kernelId}/channels?token=${sidecar.token}`).replace(/^http/, 'ws'));
    let socket: Socket | undefined;
    ws.once('upgrade', res => (socket = res.socket));
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    assert.ok(socket);
    const flowing = new Promise<void>(resolve => ws.once('message', () => resolve()));
    void execute(ws, "import sys\nfor _ in range(2000):\n    sys.stdout.write('x' * 100000); sys.stdout.flush()").catch(() => undefined);
    await flowing;
    socket.resetAndDestroy();
    ws.on('error', () => undefined); // the reset is ours
    // The front door still works, and Jupyter's side of all of this has been cleaned up.
    await drainJupyterLog();
    await new Promise(resolve => setTimeout(resolve, 1000));
    await drainJupyterLog();
    assert.deepEqual(warnings(sidecar).slice(warningsBefore.length), []);
    await fetch(sidecar.url(`api/kernels/${kernelId}`), { method: 'DELETE', headers: tokenHeader(sidecar) });
  });
});

function warnings(sidecar: Sidecar): string[] {
  return sidecar
    .stderr()
    .split('\n')
    .filter(line => line.includes('"level":"warn"') || line.includes('"level":"error"'));
}

/** Starts a download, reads a little of it, then goes away: a clean close, or a TCP reset. */
function leaveMidResponse(url: string, acceptEncoding: string, how: 'close' | 'reset'): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get({ ...urlParts(url), headers: { 'accept-encoding': acceptEncoding }, agent: false }, res => {
      if (res.statusCode !== 200) {
        reject(new Error(`GET ${url} answered ${res.statusCode}`));
        return;
      }
      res.once('data', () => {
        if (how === 'reset') {
          req.socket?.resetAndDestroy();
        } else {
          req.destroy();
        }
        resolve();
      });
    });
    req.on('error', () => undefined); // we are the ones leaving
  });
}
