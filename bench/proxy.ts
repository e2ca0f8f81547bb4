/**
 * Proxy benchmark: the same workload against three front doors, in one run.
 *
 *   direct   plain `jupyter lab` on loopback TCP, as people run it today
 *   sidecar  our CLI (`gpu-workspace serve`), Jupyter on a private Unix socket behind it
 *   chp      configurable-http-proxy (JupyterHub's proxy) in front of the direct Jupyter
 *
 * Workload per target: kernel execute round trips over the kernel WebSocket
 * (v1 binary protocol, as JupyterLab 4 speaks it), sequential REST
 * GET /api/contents over a keep-alive connection, the throughput of a large
 * kernel output stream, and a load scenario: many tabs' worth of clients
 * executing small cells in a loop on a few shared kernels while each also
 * polls the REST API, which keeps both CPUs busy. Also the resident memory and CPU time of the sidecar's
 * and CHP's processes. A fourth, reference-only target ("floor") reaches the
 * sidecar's own Jupyter on its Unix socket with no proxy: sidecar minus floor
 * is what the sidecar itself adds. The work is split into small blocks that
 * rotate over the targets, so changes in machine load hit all of them alike.
 *
 * Run from the repository root: `npm run bench:proxy`. Knobs (environment):
 *   BENCH_KERNEL_EXECS     measured kernel executions per target   (2000)
 *   BENCH_KERNEL_WARMUP    warm-up executions per target            (50)
 *   BENCH_REST_REQUESTS    measured GET /api/contents per target    (500)
 *   BENCH_STREAM_MB        MB printed by the kernel per stream run  (100)
 *   BENCH_STREAM_RUNS      stream runs per target (median is used)  (5)
 *   BENCH_BLOCK            requests per target before moving on     (10)
 *   BENCH_SETTLE_SECONDS   idle time before the settled RSS reading (10)
 *   BENCH_LOAD_SECONDS     load scenario: seconds of load per target, 0 skips it (60)
 *   BENCH_LOAD_ROUNDS      load scenario: rounds the seconds are split into (2)
 *   BENCH_LOAD_CLIENTS     load scenario: kernel WebSocket clients (40)
 *   BENCH_LOAD_KERNELS     load scenario: kernels the clients share (4)
 *   BENCH_LOAD_POLL_MS     load scenario: pause between one client's REST polls (1000)
 *   BENCH_FLOOR=0          skip the reference "floor" (the sidecar's Jupyter on its Unix socket, no proxy)
 *   BENCH_NO_BUILD=1       do not rebuild sidecar/dist when it is older than sidecar/src
 *   BENCH_BASELINE=FILE    also measure another build of the sidecar ("baseline": that build's
 *                          bin/gpu-workspace.js, e.g. of the previous commit) beside this one, for
 *                          kernel, REST and static-file figures: a before/after in one run
 *   BENCH_STATIC_REQUESTS  measured GET of JupyterLab's main bundle per target (500)
 *
 * Prints a table and PASS/MISS per goal, writes bench/results/proxy-latest.json,
 * and exits 0 whatever the verdicts (non-zero only when the benchmark itself fails).
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { descendantsOf } from '../sidecar/src/jupyter/processes';
import {
  benchEnv,
  cleanup,
  Endpoint,
  ensureSidecarBuilt,
  envNumber,
  freePort,
  JUPYTER,
  log,
  REPO,
  request,
  rssMb,
  scratch,
  SIDECAR_BIN,
  sleep,
  startProcess,
  TOKEN,
  waitForHttp,
  waitForLine,
  runBenchmark
} from './harness';

// ---------------------------------------------------------------- settings

const SETTINGS = {
  kernelExecs: Math.floor(envNumber('BENCH_KERNEL_EXECS', 2000, 1)),
  kernelWarmup: Math.floor(envNumber('BENCH_KERNEL_WARMUP', 50, 0)),
  restRequests: Math.floor(envNumber('BENCH_REST_REQUESTS', 500, 1)),
  streamMb: Math.floor(envNumber('BENCH_STREAM_MB', 100, 1)),
  streamRuns: Math.floor(envNumber('BENCH_STREAM_RUNS', 5, 1)),
  block: Math.floor(envNumber('BENCH_BLOCK', 10, 1)),
  settleSeconds: Math.floor(envNumber('BENCH_SETTLE_SECONDS', 10, 0)),
  loadSeconds: envNumber('BENCH_LOAD_SECONDS', 60, 0),
  loadRounds: Math.floor(envNumber('BENCH_LOAD_ROUNDS', 2, 1)),
  loadClients: Math.floor(envNumber('BENCH_LOAD_CLIENTS', 40, 1)),
  loadKernels: Math.floor(envNumber('BENCH_LOAD_KERNELS', 4, 1)),
  loadPollMs: envNumber('BENCH_LOAD_POLL_MS', 1000, 0),
  /** Also measure Jupyter's own Unix socket with no proxy, as a reference. */
  floor: process.env.BENCH_FLOOR !== '0',
  staticRequests: Math.floor(envNumber('BENCH_STATIC_REQUESTS', 500, 1)),
  /** Another build of the sidecar to measure beside this one (its bin/gpu-workspace.js). */
  baseline: process.env.BENCH_BASELINE ?? null
};

/** At most this much slower than the baseline build on kernel, REST and static figures. */
const BASELINE_TOLERANCE = 1.03;

const CHP_BIN = path.join(REPO, 'node_modules', 'configurable-http-proxy', 'bin', 'configurable-http-proxy');
const RESULTS_FILE = path.join(REPO, 'bench', 'results', 'proxy-latest.json');
const WS_PROTOCOL = 'v1.kernel.websocket.jupyter.org';
const RATE_LIMIT_ARG = '--ServerApp.iopub_data_rate_limit=1e12';

const GOALS = {
  kernelP50VsDirect: 0.2,
  restP50VsDirect: 1.05,
  restP99VsDirect: 1.15,
  throughputVsDirect: 0.9,
  idleRssMb: 70,
  loadExecsVsDirect: 0.95
};

/** What a browser sends: the sidecar compresses REST answers for it, as it would for a real tab. */
const BROWSER_ACCEPT_ENCODING = 'gzip, deflate, br, zstd';
/** What an open JupyterLab tab polls (its kernel, session, file browser and terminal models). */
const POLLED_PATHS = ['/api/kernels', '/api/sessions', '/api/contents', '/api/terminals'];

type TargetName = 'direct' | 'sidecar' | 'chp' | 'floor' | 'baseline';
type PerTarget<T> = Partial<Record<TargetName, T>>;

// ---------------------------------------------------------------- kernel WebSocket client

interface KernelMessage {
  channel: string;
  msgType: string;
  parentId: string | undefined;
  /** Raw content JSON (parsed only when needed: stream content can be megabytes). */
  content: Buffer;
}

/** The v1 kernel WebSocket protocol: little-endian uint64 offsets, then channel, header, parent, metadata, content. */
function serializeV1(channel: string, parts: Buffer[]): Buffer {
  const all = [Buffer.from(channel, 'utf8'), ...parts];
  const offsets: number[] = [8 * (all.length + 2)];
  for (const part of all) {
    offsets.push(offsets[offsets.length - 1] + part.length);
  }
  const head = Buffer.alloc(8 * (offsets.length + 1));
  head.writeBigUInt64LE(BigInt(offsets.length), 0);
  offsets.forEach((o, i) => head.writeBigUInt64LE(BigInt(o), 8 * (i + 1)));
  return Buffer.concat([head, ...all]);
}

function parseV1(buf: Buffer): KernelMessage {
  const count = Number(buf.readBigUInt64LE(0));
  if (count < 6) {
    throw new Error(`malformed v1 kernel message (${count} offsets)`);
  }
  const off = (i: number): number => Number(buf.readBigUInt64LE(8 * (i + 1)));
  const header = JSON.parse(buf.toString('utf8', off(1), off(2))) as { msg_type?: string };
  const parent = JSON.parse(buf.toString('utf8', off(2), off(3))) as { msg_id?: string };
  return {
    channel: buf.toString('utf8', off(0), off(1)),
    msgType: header.msg_type ?? '',
    parentId: parent.msg_id,
    content: buf.subarray(off(4), off(5))
  };
}

/** The legacy JSON protocol, used only when a server does not accept v1. */
function parseJson(text: string): KernelMessage {
  const msg = JSON.parse(text) as {
    channel: string;
    header: { msg_type: string };
    parent_header: { msg_id?: string };
    content: unknown;
  };
  return {
    channel: msg.channel,
    msgType: msg.header.msg_type,
    parentId: msg.parent_header.msg_id,
    content: Buffer.from(JSON.stringify(msg.content))
  };
}

interface ExecResult {
  ms: number;
  /** Bytes of stream (stdout/stderr) message content received for this request. */
  streamBytes: number;
}

interface Pending {
  start: number;
  gotReply: boolean;
  gotIdle: boolean;
  replyStatus: string;
  streamBytes: number;
  timer: NodeJS.Timeout;
  resolve: (r: ExecResult) => void;
  reject: (e: Error) => void;
}

class KernelClient {
  private readonly pending = new Map<string, Pending>();
  private readonly session = randomUUID();
  readonly v1: boolean;

  private constructor(private readonly ws: WebSocket) {
    this.v1 = ws.protocol === WS_PROTOCOL;
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.on('close', () => this.failAll(new Error('kernel WebSocket closed')));
    ws.on('error', err => this.failAll(err));
  }

  static connect(endpoint: Endpoint, kernelId: string): Promise<KernelClient> {
    const urlPath = `/api/kernels/${kernelId}/channels?session_id=${randomUUID()}&token=${endpoint.token ?? TOKEN}`;
    const url = endpoint.socketPath !== undefined ? `ws+unix://${endpoint.socketPath}:${urlPath}` : `ws://127.0.0.1:${endpoint.port}${urlPath}`;
    return new Promise((resolve, reject) => {
      // Origin as a browser on that page would send it: Jupyter checks it against Host.
      const origin = endpoint.port !== undefined ? `http://127.0.0.1:${endpoint.port}` : undefined;
      const ws = new WebSocket(url, [WS_PROTOCOL], { origin, maxPayload: 1 << 30 });
      ws.once('open', () => resolve(new KernelClient(ws)));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`WebSocket upgrade refused: HTTP ${res.statusCode}`)));
    });
  }

  close(): void {
    this.ws.close();
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends a shell request; resolves when its reply and the kernel's idle status for it have both arrived. */
  request(msgType: string, content: Record<string, unknown>, timeoutMs: number): Promise<ExecResult> {
    const msgId = randomUUID();
    const header = { msg_id: msgId, username: 'bench', session: this.session, date: new Date().toISOString(), msg_type: msgType, version: '5.3' };
    const payload = this.v1
      ? serializeV1('shell', [header, {}, {}, content].map(part => Buffer.from(JSON.stringify(part))))
      : JSON.stringify({ channel: 'shell', header, parent_header: {}, metadata: {}, content, buffers: [] });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(msgId);
        reject(new Error(`${msgType} got no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(msgId, { start: performance.now(), gotReply: false, gotIdle: false, replyStatus: '', streamBytes: 0, timer, resolve, reject });
      this.ws.send(payload, { binary: this.v1 }, err => {
        if (err) {
          this.failOne(msgId, err);
        }
      });
    });
  }

  execute(code: string, timeoutMs: number): Promise<ExecResult> {
    return this.request('execute_request', { code, silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true }, timeoutMs);
  }

  private onMessage(data: WebSocket.RawData, isBinary: boolean): void {
    const now = performance.now();
    let msg: KernelMessage;
    try {
      const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      msg = isBinary && this.v1 ? parseV1(buf) : parseJson(buf.toString('utf8'));
    } catch (err) {
      this.failAll(new Error(`could not parse a kernel message: ${(err as Error).message}`));
      return;
    }
    const p = msg.parentId === undefined ? undefined : this.pending.get(msg.parentId);
    if (!p || msg.parentId === undefined) {
      return;
    }
    if (msg.channel === 'iopub' && msg.msgType === 'stream') {
      p.streamBytes += msg.content.length;
    } else if (msg.channel === 'iopub' && msg.msgType === 'status') {
      p.gotIdle ||= (JSON.parse(msg.content.toString('utf8')) as { execution_state?: string }).execution_state === 'idle';
    } else if (msg.channel === 'shell' && msg.msgType.endsWith('_reply')) {
      p.gotReply = true;
      p.replyStatus = (JSON.parse(msg.content.toString('utf8')) as { status?: string }).status ?? '';
    }
    if (p.gotReply && p.gotIdle) {
      clearTimeout(p.timer);
      this.pending.delete(msg.parentId);
      if (p.replyStatus !== 'ok') {
        p.reject(new Error(`kernel replied with status "${p.replyStatus}"`));
      } else {
        p.resolve({ ms: now - p.start, streamBytes: p.streamBytes });
      }
    }
  }

  private failOne(msgId: string, err: Error): void {
    const p = this.pending.get(msgId);
    if (p) {
      clearTimeout(p.timer);
      this.pending.delete(msgId);
      p.reject(err);
    }
  }

  private failAll(err: Error): void {
    for (const id of [...this.pending.keys()]) {
      this.failOne(id, err);
    }
  }
}

// ---------------------------------------------------------------- targets

interface Target {
  name: TargetName;
  endpoint: Endpoint;
  /** The proxy process whose memory we report (none for direct). */
  proxyPid: number | null;
  kernelId: string;
  kernel: KernelClient;
  restAgent: http.Agent;
  rssAtStartMb: number | null;
}

const TICK_MS = 1000 / 100; // USER_HZ is 100 on Linux

/** CPU time (user + system) a process has used so far, in ms. */
function cpuMsOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_MS;
  } catch {
    return NaN;
  }
}

/** CPU that each proxy process spends per phase: less noisy than timings on a busy machine. */
const proxyCpuMs: Record<'kernel' | 'rest' | 'stream', PerTarget<number>> = { kernel: {}, rest: {}, stream: {} };

/** Runs `work` for target `t` and charges the CPU its proxy process used meanwhile to `phase`. */
async function chargingCpu<T>(t: Target, phase: keyof typeof proxyCpuMs, work: () => Promise<T>): Promise<T> {
  if (t.proxyPid === null) {
    return work();
  }
  const before = cpuMsOf(t.proxyPid);
  const result = await work();
  proxyCpuMs[phase][t.name] = (proxyCpuMs[phase][t.name] ?? 0) + (cpuMsOf(t.proxyPid) - before);
  return result;
}

/** Busy and total CPU time of the whole machine, in clock ticks, from /proc/stat. */
function machineTicks(): { busy: number; total: number } {
  const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = fields;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

/** CPU ticks used by this process, its reaped children, and every live descendant. */
function ourTicks(): number {
  const ticksOf = (pid: number | 'self', withChildren: boolean): number => {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // Fields 14-17 of stat: utime, stime, cutime, cstime (here at offsets 11-14).
      return Number(f[11]) + Number(f[12]) + (withChildren ? Number(f[13]) + Number(f[14]) : 0);
    } catch {
      return 0;
    }
  };
  return ticksOf('self', true) + descendantsOf(process.pid).reduce((sum, pid) => sum + ticksOf(pid, false), 0);
}

function prepareHome(home: string): void {
  fs.mkdirSync(home, { recursive: true });
  // A home that looks lived in, so GET /api/contents has something to list.
  for (let i = 0; i < 12; i++) {
    fs.writeFileSync(path.join(home, `script_${i}.py`), `print(${i})\n`.repeat(20));
  }
  const notebook = { cells: [{ cell_type: 'code', source: 'x = 1', metadata: {}, outputs: [], execution_count: null }], metadata: {}, nbformat: 4, nbformat_minor: 5 };
  for (let i = 0; i < 6; i++) {
    fs.writeFileSync(path.join(home, `notebook_${i}.ipynb`), JSON.stringify(notebook));
  }
  for (const dir of ['data', 'results', 'src']) {
    fs.mkdirSync(path.join(home, dir), { recursive: true });
  }
}

async function startKernel(endpoint: Endpoint): Promise<string> {
  const res = await request(endpoint, '/api/kernels', { method: 'POST', body: JSON.stringify({ name: 'python3' }), timeoutMs: 60_000 });
  if (res.status !== 201 && res.status !== 200) {
    throw new Error(`POST /api/kernels on ${endpoint.port ?? endpoint.socketPath} answered ${res.status}: ${res.body.slice(0, 300)}`);
  }
  return (JSON.parse(res.body) as { id: string }).id;
}

async function openTarget(name: TargetName, endpoint: Endpoint, proxyPid: number | null, rssAtStartMb: number | null): Promise<Target> {
  const kernelId = await startKernel(endpoint);
  const kernel = await KernelClient.connect(endpoint, kernelId);
  // The kernel may take a moment to answer its first request after start.
  for (let attempt = 0; ; attempt++) {
    try {
      await kernel.request('kernel_info_request', {}, 10_000);
      break;
    } catch (err) {
      if (attempt >= 5) {
        throw new Error(`${name}: the kernel does not answer: ${(err as Error).message}`);
      }
    }
  }
  if (!kernel.v1) {
    log(`${name}: the server did not accept ${WS_PROTOCOL}; using the legacy JSON protocol`);
  }
  const restAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  return { name, endpoint, proxyPid, kernelId, kernel, restAgent, rssAtStartMb };
}

// ---------------------------------------------------------------- statistics

interface LatencySummary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

function percentile(sorted: number[], p: number): number {
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

function summarize(samples: number[]): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (x: number): number => Math.round(x * 1000) / 1000;
  return {
    n: sorted.length,
    p50: round(percentile(sorted, 50)),
    p90: round(percentile(sorted, 90)),
    p99: round(percentile(sorted, 99)),
    mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length),
    min: round(sorted[0]),
    max: round(sorted[sorted.length - 1])
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Block `round` visits the targets in a rotated order, so none is always first or last. */
function rotated<T>(items: T[], round: number): T[] {
  const k = round % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

// ---------------------------------------------------------------- workloads

async function kernelLatency(targets: Target[]): Promise<PerTarget<number[]>> {
  const samples: PerTarget<number[]> = {};
  for (const t of targets) {
    for (let i = 0; i < SETTINGS.kernelWarmup; i++) {
      await t.kernel.execute('x = 1', 30_000);
    }
  }
  const blocks = Math.ceil(SETTINGS.kernelExecs / SETTINGS.block);
  const reportEvery = Math.max(1, Math.floor(blocks / 4));
  for (let b = 0; b < blocks; b++) {
    const count = Math.min(SETTINGS.block, SETTINGS.kernelExecs - b * SETTINGS.block);
    for (const t of rotated(targets, b)) {
      const list = (samples[t.name] ??= []);
      await chargingCpu(t, 'kernel', async () => {
        for (let i = 0; i < count; i++) {
          list.push((await t.kernel.execute('x = 1', 30_000)).ms);
        }
      });
    }
    if ((b + 1) % reportEvery === 0 || b === blocks - 1) {
      const done = Math.min(SETTINGS.kernelExecs, (b + 1) * SETTINGS.block);
      const p50s = targets.map(t => `${t.name} ${summarize(samples[t.name] ?? []).p50.toFixed(2)}`).join(', ');
      log(`kernel round trips: ${done}/${SETTINGS.kernelExecs} per target (p50 so far, ms: ${p50s})`);
    }
  }
  return samples;
}

async function restLatency(targets: Target[]): Promise<PerTarget<number[]>> {
  const samples: PerTarget<number[]> = {};
  const once = async (t: Target): Promise<number> => {
    const start = performance.now();
    const res = await request(t.endpoint, '/api/contents', { agent: t.restAgent });
    const ms = performance.now() - start;
    if (res.status !== 200) {
      throw new Error(`${t.name}: GET /api/contents answered ${res.status}: ${res.body.slice(0, 200)}`);
    }
    return ms;
  };
  for (const t of targets) {
    for (let i = 0; i < 20; i++) {
      await once(t);
    }
  }
  const block = SETTINGS.block;
  const blocks = Math.ceil(SETTINGS.restRequests / block);
  for (let b = 0; b < blocks; b++) {
    const count = Math.min(block, SETTINGS.restRequests - b * block);
    for (const t of rotated(targets, b)) {
      const list = (samples[t.name] ??= []);
      await chargingCpu(t, 'rest', async () => {
        for (let i = 0; i < count; i++) {
          list.push(await once(t));
        }
      });
    }
  }
  return samples;
}

/** JupyterLab's main bundle as a page names it (content-hashed, immutable: what the front door keeps compressed). */
async function mainBundlePath(t: Target): Promise<string> {
  const page = await request(t.endpoint, '/lab', { agent: t.restAgent });
  const src = /src="([^"]*\/static\/lab\/main\.[^"]+\.js[^"]*)"/.exec(page.body)?.[1];
  if (!src) {
    throw new Error(`${t.name}: no main bundle in the /lab page (${page.status})`);
  }
  return src.replaceAll('&amp;', '&');
}

/** Static files: the main bundle, as a browser asks for it (compressed where the target compresses). */
async function staticLatency(targets: Target[]): Promise<PerTarget<number[]>> {
  const samples: PerTarget<number[]> = {};
  const assets: PerTarget<string> = {};
  for (const t of targets) {
    assets[t.name] = await mainBundlePath(t);
  }
  const once = async (t: Target): Promise<number> => {
    const start = performance.now();
    // No credentials, as a browser's first visit: a token-authenticated answer carries Jupyter's identity
    // cookie (Set-Cookie), which no front door may keep. Static files need no login.
    const res = await request(t.endpoint, assets[t.name] as string, { agent: t.restAgent, headers: { 'accept-encoding': BROWSER_ACCEPT_ENCODING, authorization: '' } });
    const ms = performance.now() - start;
    if (res.status !== 200) {
      throw new Error(`${t.name}: GET ${assets[t.name]} answered ${res.status}`);
    }
    return ms;
  };
  for (const t of targets) {
    for (let i = 0; i < 10; i++) {
      await once(t);
    }
  }
  const blocks = Math.ceil(SETTINGS.staticRequests / SETTINGS.block);
  for (let b = 0; b < blocks; b++) {
    const count = Math.min(SETTINGS.block, SETTINGS.staticRequests - b * SETTINGS.block);
    for (const t of rotated(targets, b)) {
      const list = (samples[t.name] ??= []);
      for (let i = 0; i < count; i++) {
        list.push(await once(t));
      }
    }
  }
  return samples;
}

interface StreamRun {
  seconds: number;
  mbPerS: number;
  receivedBytes: number;
}

async function streamThroughput(targets: Target[]): Promise<PerTarget<StreamRun[]>> {
  const runs: PerTarget<StreamRun[]> = {};
  const chunk = 1_000_000;
  const bytes = SETTINGS.streamMb * chunk;
  // A flush per chunk: every target gets the same stream of ~1 MB IOPub messages.
  const program = (n: number): string => `import sys\nfor _ in range(${n}):\n    sys.stdout.write('x' * ${chunk})\n    sys.stdout.flush()`;
  for (const t of targets) {
    await t.kernel.execute(program(5), 60_000); // warm-up
  }
  for (let r = 0; r < SETTINGS.streamRuns; r++) {
    for (const t of rotated(targets, r)) {
      const res = await chargingCpu(t, 'stream', () => t.kernel.execute(program(SETTINGS.streamMb), 300_000));
      if (res.streamBytes < bytes) {
        throw new Error(`${t.name}: only ${res.streamBytes} of ${bytes} output bytes arrived (IOPub data rate limit?)`);
      }
      const run = { seconds: res.ms / 1000, mbPerS: bytes / 1e6 / (res.ms / 1000), receivedBytes: res.streamBytes };
      (runs[t.name] ??= []).push(run);
      log(`stream run ${r + 1}/${SETTINGS.streamRuns} ${t.name}: ${SETTINGS.streamMb} MB in ${run.seconds.toFixed(2)} s = ${run.mbPerS.toFixed(1)} MB/s`);
    }
  }
  return runs;
}

interface LoadResult {
  /** Executions completed inside the measured windows. */
  executions: number;
  seconds: number;
  errors: number;
  /** The first few error messages, to say what went wrong. */
  errorSamples: string[];
  pollMs: number[];
  /** CPU the proxy process used during the windows (ms). */
  proxyCpuMs: number;
  /** Busy share of the whole machine (all CPUs) during the windows, 0..1. */
  machineBusy: number;
}

/**
 * The load scenario: BENCH_LOAD_CLIENTS kernel WebSocket clients spread over
 * BENCH_LOAD_KERNELS kernels (several tabs on one notebook each), every one
 * executing a small cell, waiting for its reply and idle, and doing it again;
 * beside each, a REST poller as an open JupyterLab tab runs one. The kernels
 * alone keep both CPUs busy, so whatever the front door spends on proxying is
 * taken from them: executions per second is the figure. Each target gets the
 * same time, in rounds whose order rotates. The floor (the sidecar's own
 * Jupyter, no proxy) is measured too, as a reference: sidecar against floor
 * is what the proxy costs, floor against direct what the Jupyter behind it does.
 */
async function loadScenario(targets: Target[]): Promise<PerTarget<LoadResult>> {
  const results: PerTarget<LoadResult> = {};
  const loadTargets = targets;
  const kernels: PerTarget<string[]> = {};
  for (const t of loadTargets) {
    // Kernels of their own per target, so no target's idle clients listen in on another's work
    // (the floor's are the sidecar's Jupyter's too, but never in use at the same time).
    kernels[t.name] = await Promise.all(Array.from({ length: SETTINGS.loadKernels }, () => startKernel(t.endpoint)));
  }
  const roundSeconds = SETTINGS.loadSeconds / SETTINGS.loadRounds;
  for (let r = 0; r < SETTINGS.loadRounds; r++) {
    for (const t of rotated(loadTargets, r)) {
      const round = await loadRound(t, kernels[t.name] ?? [], roundSeconds);
      const sum = (results[t.name] ??= { executions: 0, seconds: 0, errors: 0, errorSamples: [], pollMs: [], proxyCpuMs: 0, machineBusy: 0 });
      // machineBusy is averaged over rounds, weighted by their length (all equal).
      sum.machineBusy = (sum.machineBusy * sum.seconds + round.machineBusy * round.seconds) / (sum.seconds + round.seconds);
      sum.executions += round.executions;
      sum.seconds += round.seconds;
      sum.errors += round.errors;
      sum.errorSamples.push(...round.errorSamples.slice(0, 5 - sum.errorSamples.length));
      sum.pollMs.push(...round.pollMs);
      sum.proxyCpuMs += round.proxyCpuMs;
      log(
        `load round ${r + 1}/${SETTINGS.loadRounds} ${t.name}: ${(round.executions / round.seconds).toFixed(1)} executions/s, ` +
          `${round.errors} errors, machine ${(round.machineBusy * 100).toFixed(0)}% busy`
      );
    }
  }
  for (const t of loadTargets) {
    for (const id of kernels[t.name] ?? []) {
      await request(t.endpoint, `/api/kernels/${id}`, { method: 'DELETE', timeoutMs: 30_000 }).catch(() => undefined);
    }
  }
  return results;
}

async function loadRound(t: Target, kernelIds: string[], seconds: number): Promise<LoadResult> {
  const errorSamples: string[] = [];
  let errors = 0;
  const fail = (what: string): void => {
    errors++;
    if (errorSamples.length < 5) {
      errorSamples.push(what);
    }
  };
  const clients = await Promise.all(Array.from({ length: SETTINGS.loadClients }, (_, i) => KernelClient.connect(t.endpoint, kernelIds[i % kernelIds.length])));
  // One execution each before the clock starts: every connection is up and every kernel answers.
  await Promise.all(clients.map(c => c.execute('x = 1', 60_000)));
  const agents = clients.map(() => new http.Agent({ keepAlive: true, maxSockets: 1 }));

  let stop = false;
  let executions = 0;
  const pollMs: number[] = [];
  const start = performance.now();
  const deadline = start + seconds * 1000;
  const machineBefore = machineTicks();
  const cpuBefore = t.proxyPid === null ? 0 : cpuMsOf(t.proxyPid);

  const executeLoop = async (c: KernelClient): Promise<void> => {
    while (!stop && c.isOpen) {
      try {
        await c.execute('x = sum(range(100))', 60_000);
        if (performance.now() <= deadline) {
          executions++;
        }
      } catch (err) {
        fail(`execute: ${(err as Error).message}`);
      }
    }
  };
  const pollLoop = async (agent: http.Agent, offset: number): Promise<void> => {
    // Tabs do not poll in step: each starts at its own point of the interval.
    await sleep(Math.random() * SETTINGS.loadPollMs);
    for (let i = offset; !stop; i++) {
      const began = performance.now();
      const urlPath = POLLED_PATHS[i % POLLED_PATHS.length];
      try {
        const res = await request(t.endpoint, urlPath, { agent, headers: { 'accept-encoding': BROWSER_ACCEPT_ENCODING }, timeoutMs: 30_000 });
        if (res.status !== 200) {
          fail(`GET ${urlPath}: HTTP ${res.status}`);
        } else if (performance.now() <= deadline) {
          pollMs.push(performance.now() - began);
        }
      } catch (err) {
        fail(`GET ${urlPath}: ${(err as Error).message}`);
      }
      await sleep(Math.max(0, SETTINGS.loadPollMs - (performance.now() - began)));
    }
  };
  const loops = [...clients.map(executeLoop), ...agents.map((a, i) => pollLoop(a, i))];
  await sleep(seconds * 1000);
  const machineAfter = machineTicks();
  const proxyCpuMs = t.proxyPid === null ? 0 : cpuMsOf(t.proxyPid) - cpuBefore;
  stop = true;
  await Promise.all(loops);
  for (const c of clients) {
    if (!c.isOpen) {
      fail('a kernel WebSocket closed during the round');
    }
    c.close();
  }
  for (const a of agents) {
    a.destroy();
  }
  const total = machineAfter.total - machineBefore.total;
  return {
    executions,
    seconds,
    errors,
    errorSamples,
    pollMs,
    proxyCpuMs,
    machineBusy: total > 0 ? (machineAfter.busy - machineBefore.busy) / total : 0
  };
}

// ---------------------------------------------------------------- report

interface Figures {
  kernelP50: number;
  kernelP99: number;
  restP50: number;
  restP99: number;
  staticP50: number;
  staticP99: number;
  throughput: number;
  rssStart: number | null;
  rssIdle: number | null;
  /** CPU the proxy process used: per kernel round trip, per REST request, per 100 MB streamed (ms). */
  cpuKernel: number | null;
  cpuRest: number | null;
  cpuStream100Mb: number | null;
  /** Load scenario (null when skipped): executions per second, errors, REST poll latency, CPU. */
  loadExecsPerS: number | null;
  loadErrors: number | null;
  loadPollP50: number | null;
  loadPollP99: number | null;
  /** CPU the proxy process used under load, as a share of one CPU (%). */
  loadProxyCpuPct: number | null;
  /** How busy the whole machine was under load (% of all CPUs). */
  loadMachineBusyPct: number | null;
}

interface Verdict {
  goal: string;
  pass: boolean;
  detail: string;
}

function fmt(x: number | null | undefined, digits = 2): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits);
}

function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  return a === null || a === undefined || b === null || b === undefined || b === 0 ? null : a / b;
}

function table(figures: PerTarget<Figures>): string {
  const rows: { label: string; key: keyof Figures; digits: number }[] = [
    { label: 'kernel execute round trip p50 (ms)', key: 'kernelP50', digits: 2 },
    { label: 'kernel execute round trip p99 (ms)', key: 'kernelP99', digits: 2 },
    { label: 'REST GET /api/contents p50 (ms)', key: 'restP50', digits: 2 },
    { label: 'REST GET /api/contents p99 (ms)', key: 'restP99', digits: 2 },
    { label: 'static GET main bundle p50 (ms)', key: 'staticP50', digits: 2 },
    { label: 'static GET main bundle p99 (ms)', key: 'staticP99', digits: 2 },
    { label: 'output stream throughput (MB/s)', key: 'throughput', digits: 1 },
    { label: 'proxy RSS right after start (MB)', key: 'rssStart', digits: 1 },
    { label: 'proxy RSS idle after workload (MB)', key: 'rssIdle', digits: 1 },
    { label: 'proxy CPU per kernel round trip (ms)', key: 'cpuKernel', digits: 3 },
    { label: 'proxy CPU per REST request (ms)', key: 'cpuRest', digits: 3 },
    { label: 'proxy CPU per 100 MB streamed (ms)', key: 'cpuStream100Mb', digits: 0 },
    { label: 'load: executions per second', key: 'loadExecsPerS', digits: 1 },
    { label: 'load: errors', key: 'loadErrors', digits: 0 },
    { label: 'load: REST poll p50 (ms)', key: 'loadPollP50', digits: 2 },
    { label: 'load: REST poll p99 (ms)', key: 'loadPollP99', digits: 2 },
    { label: 'load: proxy CPU (% of one CPU)', key: 'loadProxyCpuPct', digits: 1 },
    { label: 'load: machine busy (% of all CPUs)', key: 'loadMachineBusyPct', digits: 0 }
  ];
  const withFloor = figures.floor !== undefined;
  const header = ['figure', 'direct', 'sidecar', 'chp', 'sidecar/direct', 'sidecar/chp', ...(withFloor ? ['|', 'floor*', 'sidecar-floor'] : [])];
  const lines = rows.map(r => {
    const [d, s, c, f] = [figures.direct?.[r.key], figures.sidecar?.[r.key], figures.chp?.[r.key], figures.floor?.[r.key]];
    const delta = f === null || f === undefined || s === null || s === undefined ? '—' : `${s - f >= 0 ? '+' : ''}${fmt(s - f, r.digits)}`;
    const extra = withFloor ? ['|', fmt(f, r.digits), delta] : [];
    return [r.label, fmt(d, r.digits), fmt(s, r.digits), fmt(c, r.digits), fmt(ratio(s, d), 3), fmt(ratio(s, c), 3), ...extra];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map(l => l[i].length)));
  const render = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [render(header), widths.map(w => '-'.repeat(w)).join('  '), ...lines.map(render)].join('\n');
}

function loadFigures(l: LoadResult | undefined, hasProxy: boolean): Pick<Figures, 'loadExecsPerS' | 'loadErrors' | 'loadPollP50' | 'loadPollP99' | 'loadProxyCpuPct' | 'loadMachineBusyPct'> {
  if (!l) {
    return { loadExecsPerS: null, loadErrors: null, loadPollP50: null, loadPollP99: null, loadProxyCpuPct: null, loadMachineBusyPct: null };
  }
  const poll = l.pollMs.length ? summarize(l.pollMs) : null;
  return {
    loadExecsPerS: Math.round((l.executions / l.seconds) * 10) / 10,
    loadErrors: l.errors,
    loadPollP50: poll?.p50 ?? null,
    loadPollP99: poll?.p99 ?? null,
    loadProxyCpuPct: hasProxy ? Math.round((l.proxyCpuMs / (l.seconds * 1000)) * 1000) / 10 : null,
    loadMachineBusyPct: Math.round(l.machineBusy * 100)
  };
}

function verdicts(s: Figures, d: Figures, c: Figures): Verdict[] {
  const out: Verdict[] = [];
  const kr = s.kernelP50 / d.kernelP50;
  out.push({ goal: `kernel round trip p50 <= ${GOALS.kernelP50VsDirect}x direct`, pass: kr <= GOALS.kernelP50VsDirect, detail: `${fmt(kr, 3)}x (${fmt(s.kernelP50)} vs ${fmt(d.kernelP50)} ms)` });
  const rr = s.restP50 / d.restP50;
  out.push({ goal: `REST p50 <= ${GOALS.restP50VsDirect}x direct`, pass: rr <= GOALS.restP50VsDirect, detail: `${fmt(rr, 3)}x (${fmt(s.restP50)} vs ${fmt(d.restP50)} ms)` });
  const rr99 = s.restP99 / d.restP99;
  out.push({ goal: `REST p99 <= ${GOALS.restP99VsDirect}x direct`, pass: rr99 <= GOALS.restP99VsDirect, detail: `${fmt(rr99, 3)}x (${fmt(s.restP99)} vs ${fmt(d.restP99)} ms)` });
  const tr = s.throughput / d.throughput;
  out.push({ goal: `throughput >= ${GOALS.throughputVsDirect}x direct`, pass: tr >= GOALS.throughputVsDirect, detail: `${fmt(tr, 3)}x (${fmt(s.throughput, 1)} vs ${fmt(d.throughput, 1)} MB/s)` });
  const vsChp: [string, boolean][] = [
    ['kernel p50', s.kernelP50 < c.kernelP50],
    ['kernel p99', s.kernelP99 < c.kernelP99],
    ['REST p50', s.restP50 < c.restP50],
    ['REST p99', s.restP99 < c.restP99],
    ['throughput', s.throughput > c.throughput],
    ['idle RSS', s.rssIdle !== null && c.rssIdle !== null && s.rssIdle < c.rssIdle]
  ];
  if (s.loadExecsPerS !== null && c.loadExecsPerS !== null) {
    vsChp.push(['load executions/s', s.loadExecsPerS > c.loadExecsPerS]);
    vsChp.push(['load errors', (s.loadErrors ?? 0) <= (c.loadErrors ?? 0)]);
    vsChp.push(['load REST poll p50', (s.loadPollP50 ?? Infinity) < (c.loadPollP50 ?? Infinity)]);
    vsChp.push(['load REST poll p99', (s.loadPollP99 ?? Infinity) < (c.loadPollP99 ?? Infinity)]);
  }
  const lost = vsChp.filter(([, better]) => !better).map(([name]) => name);
  out.push({ goal: 'better than CHP on every figure', pass: lost.length === 0, detail: lost.length ? `not better on: ${lost.join(', ')}` : `better on all ${vsChp.length}` });
  out.push({ goal: `sidecar idle RSS <= ${GOALS.idleRssMb} MB`, pass: s.rssIdle !== null && s.rssIdle <= GOALS.idleRssMb, detail: `${fmt(s.rssIdle, 1)} MB idle (${fmt(s.rssStart, 1)} MB right after start)` });
  if (s.loadExecsPerS !== null && d.loadExecsPerS !== null) {
    const lr = s.loadExecsPerS / d.loadExecsPerS;
    out.push({
      goal: `under load: executions >= ${GOALS.loadExecsVsDirect}x direct, 0 errors`,
      pass: lr >= GOALS.loadExecsVsDirect && s.loadErrors === 0,
      detail: `${fmt(lr, 3)}x (${fmt(s.loadExecsPerS, 1)} vs ${fmt(d.loadExecsPerS, 1)} executions/s), ${s.loadErrors} errors, machine ${fmt(s.loadMachineBusyPct, 0)}% busy`
    });
  }
  return out;
}

// ---------------------------------------------------------------- main

/** The token the sidecar's Jupyter on `socketPath` accepts (it is its own, not the workspace's): from its server-info file. */
function jupyterTokenFor(env: NodeJS.ProcessEnv, socketPath: string): string | null {
  const dir = env.JUPYTER_RUNTIME_DIR ?? '';
  for (const name of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
    if (/^jpserver-\d+\.json$/.test(name)) {
      const info = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as { sock?: string; token?: string };
      if (info.sock === socketPath && info.token) {
        return info.token;
      }
    }
  }
  return null;
}

/** Another build of the sidecar (BENCH_BASELINE), with a home and state of its own, the same config. */
async function startBaseline(bin: string, tmp: string, env: NodeJS.ProcessEnv, configFile: string): Promise<Target> {
  const home = path.join(tmp, 'baseline-home');
  prepareHome(home);
  const port = await freePort();
  const proc = startProcess(
    'baseline',
    process.execPath,
    [bin, 'serve', '--port', String(port), '--home', home, '--state-dir', path.join(tmp, 'baseline-state'), '--token', TOKEN, '--config', configFile],
    env,
    path.dirname(path.dirname(path.dirname(bin)))
  );
  await waitForLine(proc, `http://127.0.0.1:${port}/lab?token=${TOKEN}`, 'the baseline sidecar');
  const rss = rssMb(proc.pid)?.rss ?? null;
  log(`baseline sidecar ready (pid ${proc.pid}, ${bin})`);
  return openTarget('baseline', { port }, proc.pid, rss);
}

async function main(): Promise<void> {
  const began = Date.now();
  if (!fs.existsSync(JUPYTER)) {
    throw new Error(`${JUPYTER} not found: create the repository's .venv with JupyterLab first.`);
  }
  if (!fs.existsSync(CHP_BIN)) {
    throw new Error(`${CHP_BIN} not found: run npm install.`);
  }
  ensureSidecarBuilt();
  log(`settings: ${JSON.stringify(SETTINGS)}`);
  const machineAtStart = machineTicks();
  const oursAtStart = ourTicks();

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-proxy-'));
  scratch.push(tmp);
  const home = path.join(tmp, 'home');
  const stateDir = path.join(tmp, 'state');
  prepareHome(home);
  // Both Jupyter servers get the same clean, private Jupyter and IPython directories.
  const env = benchEnv(tmp);
  const configFile = path.join(tmp, 'sidecar-config.json');
  fs.writeFileSync(configFile, JSON.stringify({ log_level: process.env.BENCH_SIDECAR_LOG ?? 'warn', jupyter: { extra_args: [RATE_LIMIT_ARG] } }));

  try {
    const [jupyterPort, sidecarPort, chpPort, chpApiPort] = [await freePort(), await freePort(), await freePort(), await freePort()];

    log('starting the direct Jupyter and the sidecar');
    const jupyter = startProcess(
      'direct-jupyter',
      JUPYTER,
      ['lab', '--no-browser', `--port=${jupyterPort}`, '--ip=127.0.0.1', '--allow-root', `--IdentityProvider.token=${TOKEN}`, `--ServerApp.root_dir=${home}`, '--ServerApp.port_retries=0', RATE_LIMIT_ARG],
      env,
      home
    );
    const sidecar = startProcess(
      'sidecar',
      process.execPath,
      [SIDECAR_BIN, 'serve', '--port', String(sidecarPort), '--home', home, '--state-dir', stateDir, '--token', TOKEN, '--config', configFile],
      env,
      REPO
    );
    const sidecarReady = waitForLine(sidecar, `http://127.0.0.1:${sidecarPort}/lab?token=${TOKEN}`, 'the sidecar').then(() => {
      const rss = rssMb(sidecar.pid)?.rss ?? null;
      log(`sidecar ready (pid ${sidecar.pid}, RSS ${fmt(rss, 1)} MB)`);
      return rss;
    });
    const [sidecarRssStart] = await Promise.all([sidecarReady, waitForHttp(jupyter, jupyterPort, 'the direct Jupyter')]);
    log(`direct Jupyter ready (pid ${jupyter.pid}, port ${jupyterPort})`);

    const chp = startProcess(
      'chp',
      process.execPath,
      [CHP_BIN, '--ip', '127.0.0.1', '--port', String(chpPort), '--api-ip', '127.0.0.1', '--api-port', String(chpApiPort), '--default-target', `http://127.0.0.1:${jupyterPort}`, '--log-level', 'warn'],
      { ...env, CONFIGPROXY_AUTH_TOKEN: randomUUID() },
      REPO
    );
    await waitForHttp(chp, chpPort, 'configurable-http-proxy');
    const chpRssStart = rssMb(chp.pid)?.rss ?? null;
    log(`configurable-http-proxy ready (pid ${chp.pid}, RSS ${fmt(chpRssStart, 1)} MB)`);

    const targets = [
      await openTarget('direct', { port: jupyterPort }, null, null),
      await openTarget('sidecar', { port: sidecarPort }, sidecar.pid, sidecarRssStart),
      await openTarget('chp', { port: chpPort }, chp.pid, chpRssStart)
    ];
    if (SETTINGS.baseline) {
      targets.push(await startBaseline(SETTINGS.baseline, tmp, env, configFile));
    }
    // The floor: the sidecar's own Jupyter on its Unix socket, no proxy at all. Not a
    // goal, a reference: sidecar minus floor is what the sidecar itself adds.
    const socketPath = path.join(stateDir, 'run', 'jupyter.sock');
    const floorToken = jupyterTokenFor(env, socketPath);
    if (SETTINGS.floor && fs.existsSync(socketPath) && floorToken) {
      targets.push(await openTarget('floor', { socketPath, token: floorToken }, null, null));
    } else if (SETTINGS.floor) {
      log(`no Jupyter socket at ${socketPath} (or no token for it): skipping the no-proxy floor`);
    }
    log(`kernels started; WebSocket protocol: ${targets.map(t => `${t.name}=${t.kernel.v1 ? 'v1' : 'json'}`).join(', ')}`);

    log(`kernel round trips: ${SETTINGS.kernelWarmup} warm-up + ${SETTINGS.kernelExecs} measured per target, blocks of ${SETTINGS.block}`);
    const kernel = await kernelLatency(targets);
    log(`REST: ${SETTINGS.restRequests} x GET /api/contents per target`);
    const rest = await restLatency(targets);
    log(`static files: ${SETTINGS.staticRequests} x GET of JupyterLab's main bundle per target`);
    const statics = await staticLatency(targets);
    // The baseline is measured for the before/after figures only (kernel, REST, static).
    const mainTargets = targets.filter(t => t.name !== 'baseline');
    log(`output stream: ${SETTINGS.streamMb} MB x ${SETTINGS.streamRuns} runs per target`);
    const stream = await streamThroughput(mainTargets);
    let load: PerTarget<LoadResult> = {};
    if (SETTINGS.loadSeconds > 0) {
      log(
        `load: ${SETTINGS.loadClients} WebSocket clients on ${SETTINGS.loadKernels} kernels executing in a loop, each with a REST poller ` +
          `(every ${SETTINGS.loadPollMs} ms), ${SETTINGS.loadSeconds} s per target in ${SETTINGS.loadRounds} rounds`
      );
      load = await loadScenario(mainTargets);
    }

    log(`letting things settle for ${SETTINGS.settleSeconds} s before the idle RSS reading (connections stay open, like an idle browser tab)`);
    // Sampled each second: the curve shows whether memory is still being given back.
    const rssCurve: PerTarget<number[]> = {};
    const idle: PerTarget<{ rss: number; hwm: number }> = {};
    const idleCpuStart: PerTarget<number> = {};
    for (const t of targets) {
      if (t.proxyPid !== null) {
        idleCpuStart[t.name] = cpuMsOf(t.proxyPid);
      }
    }
    for (let second = 0; second <= SETTINGS.settleSeconds; second++) {
      if (second > 0) {
        await sleep(1000);
      }
      for (const t of targets) {
        const m = t.proxyPid === null ? null : rssMb(t.proxyPid);
        if (m) {
          idle[t.name] = m;
          (rssCurve[t.name] ??= []).push(Math.round(m.rss * 10) / 10);
        }
      }
    }

    // How much of the machine other programs took while we measured: the noise on these numbers.
    const machineAtEnd = machineTicks();
    const elapsedCpus = ((machineAtEnd.total - machineAtStart.total) / os.cpus().length) || 1;
    const foreignCpus = Math.max(0, (machineAtEnd.busy - machineAtStart.busy - (ourTicks() - oursAtStart)) / elapsedCpus);
    const idleCpu: PerTarget<number> = {};
    for (const t of targets) {
      const before = idleCpuStart[t.name];
      if (t.proxyPid !== null && before !== undefined && SETTINGS.settleSeconds > 0) {
        idleCpu[t.name] = Math.round(((cpuMsOf(t.proxyPid) - before) / SETTINGS.settleSeconds) * 10) / 10;
      }
    }
    const perUnit = (total: number | undefined, units: number): number | null =>
      total === undefined || !Number.isFinite(total) ? null : Math.round((total / units) * 1000) / 1000;
    const figures: PerTarget<Figures> = {};
    const summaries: PerTarget<{ kernel: LatencySummary; rest: LatencySummary; stream: StreamRun[]; load?: Omit<LoadResult, 'pollMs'> & { poll: LatencySummary | null } }> = {};
    for (const t of targets) {
      const k = summarize(kernel[t.name] ?? []);
      const r = summarize(rest[t.name] ?? []);
      const st = summarize(statics[t.name] ?? []);
      const runs = stream[t.name] ?? [];
      const l = load[t.name];
      summaries[t.name] = { kernel: k, rest: r, stream: runs };
      if (l) {
        const { pollMs, ...others } = l;
        summaries[t.name] = { kernel: k, rest: r, stream: runs, load: { ...others, poll: pollMs.length ? summarize(pollMs) : null } };
      }
      figures[t.name] = {
        kernelP50: k.p50,
        kernelP99: k.p99,
        restP50: r.p50,
        restP99: r.p99,
        staticP50: st.p50,
        staticP99: st.p99,
        throughput: Math.round(median(runs.map(x => x.mbPerS)) * 10) / 10,
        rssStart: t.rssAtStartMb === null ? null : Math.round(t.rssAtStartMb * 10) / 10,
        rssIdle: idle[t.name] ? Math.round((idle[t.name]?.rss ?? 0) * 10) / 10 : null,
        cpuKernel: perUnit(proxyCpuMs.kernel[t.name], SETTINGS.kernelExecs),
        cpuRest: perUnit(proxyCpuMs.rest[t.name], SETTINGS.restRequests),
        cpuStream100Mb: perUnit(proxyCpuMs.stream[t.name], (SETTINGS.streamRuns * SETTINGS.streamMb) / 100),
        ...loadFigures(load[t.name], t.proxyPid !== null)
      };
    }
    for (const t of targets) {
      t.kernel.close();
      t.restAgent.destroy();
    }
    const [fd, fs_, fc] = [figures.direct, figures.sidecar, figures.chp];
    if (!fd || !fs_ || !fc) {
      throw new Error('internal error: a target has no figures');
    }
    const v = verdicts(fs_, fd, fc);

    const out: string[] = [];
    out.push('');
    out.push(`Proxy benchmark — ${os.cpus().length} CPU(s), Node ${process.version}, load average ${os.loadavg().map(x => x.toFixed(2)).join(' ')}, ${new Date().toISOString()}`);
    out.push(
      `kernel: ${SETTINGS.kernelExecs} x execute "x = 1" over the kernel WebSocket (after ${SETTINGS.kernelWarmup} warm-up); ` +
        `REST: ${SETTINGS.restRequests} x GET /api/contents (keep-alive, sequential); stream: ${SETTINGS.streamMb} MB of stdout, median of ${SETTINGS.streamRuns} runs`
    );
    out.push('');
    out.push(table(figures));
    if (figures.floor) {
      out.push("* floor: the sidecar's own Jupyter on its Unix socket, no proxy (reference only, not a goal); sidecar-floor = what the sidecar adds");
    }
    out.push('proxy CPU rows: CPU time the proxy process itself used (information, not goals; steadier than timings on a busy machine)');
    out.push('');
    out.push(`peak RSS (VmHWM): sidecar ${fmt(idle.sidecar?.hwm, 1)} MB, chp ${fmt(idle.chp?.hwm, 1)} MB`);
    out.push(`RSS each second while idle (MB): sidecar ${(rssCurve.sidecar ?? []).join(' ')}; chp ${(rssCurve.chp ?? []).join(' ')}`);
    out.push(`CPU while idle (ms per second): sidecar ${fmt(idleCpu.sidecar, 1)}, chp ${fmt(idleCpu.chp, 1)}`);
    out.push(`kernel round trip p90 / mean (ms): ${targets.map(t => `${t.name} ${fmt(summaries[t.name]?.kernel.p90)} / ${fmt(summaries[t.name]?.kernel.mean)}`).join(', ')}`);
    if (load.sidecar) {
      const samples = targets.flatMap(t => (load[t.name]?.errorSamples ?? []).map(e => `${t.name}: ${e}`));
      out.push(
        `load: ${SETTINGS.loadClients} clients on ${SETTINGS.loadKernels} kernels, REST poll every ${SETTINGS.loadPollMs} ms per client, ` +
          `${SETTINGS.loadSeconds} s per target` + (samples.length ? `; first errors: ${samples.slice(0, 5).join(' | ')}` : '')
      );
    }
    out.push(`stream runs (MB/s): ${targets.map(t => `${t.name} ${(summaries[t.name]?.stream ?? []).map(x => x.mbPerS.toFixed(1)).join(' ')}`).join(', ')}`);
    out.push(
      `other programs on this machine used ${foreignCpus.toFixed(2)} of ${os.cpus().length} CPUs on average during the run` +
        (foreignCpus > 0.25 ? ' — the machine was busy: expect noisy figures; run again on a quiet machine' : '')
    );
    out.push('');
    for (const x of v) {
      out.push(`${x.pass ? 'PASS' : 'MISS'}  ${x.goal}: ${x.detail}`);
    }
    const fb = figures.baseline;
    if (fb) {
      out.push('');
      out.push(`before/after: this build (sidecar) against ${SETTINGS.baseline} (baseline), measured side by side in this run`);
      for (const [label, key] of [
        ['kernel round trip p50', 'kernelP50'],
        ['kernel round trip p99', 'kernelP99'],
        ['REST p50', 'restP50'],
        ['REST p99', 'restP99'],
        ['static file p50', 'staticP50'],
        ['static file p99', 'staticP99']
      ] as const) {
        const r = ratio(fs_[key], fb[key]);
        const pass = r !== null && r <= BASELINE_TOLERANCE;
        out.push(`${pass ? 'PASS' : 'MISS'}  ${label} <= ${BASELINE_TOLERANCE}x baseline: ${fmt(r, 3)}x (${fmt(fs_[key])} vs ${fmt(fb[key])})`);
      }
    }
    out.push('');
    process.stdout.write(out.join('\n') + '\n');

    fs.mkdirSync(path.dirname(RESULTS_FILE), { recursive: true });
    const ratios: Record<string, { sidecar_vs_direct: number | null; sidecar_vs_chp: number | null }> = {};
    for (const k of Object.keys(fs_) as (keyof Figures)[]) {
      ratios[k] = { sidecar_vs_direct: ratio(fs_[k], fd[k]), sidecar_vs_chp: ratio(fs_[k], fc[k]) };
    }
    const result = {
      when: new Date().toISOString(),
      duration_seconds: Math.round((Date.now() - began) / 1000),
      machine: {
        cpus: os.cpus().length,
        cpu_model: os.cpus()[0]?.model,
        node: process.version,
        platform: `${os.type()} ${os.release()}`,
        load_average_at_end: os.loadavg(),
        cpus_used_by_other_programs: Math.round(foreignCpus * 100) / 100
      },
      settings: SETTINGS,
      websocket_protocol: Object.fromEntries(targets.map(t => [t.name, t.kernel.v1 ? WS_PROTOCOL : 'json'])),
      units: { kernel: 'ms', rest: 'ms', throughput: 'MB/s (1 MB = 1e6 bytes of stdout)', rss: 'MiB' },
      figures,
      ratios,
      details: summaries,
      peak_rss_mb: { sidecar: idle.sidecar?.hwm ?? null, chp: idle.chp?.hwm ?? null },
      idle_rss_curve_mb: rssCurve,
      idle_cpu_ms_per_s: idleCpu,
      goals: GOALS,
      verdicts: v,
      all_pass: v.every(x => x.pass)
    };
    fs.writeFileSync(RESULTS_FILE, JSON.stringify(result, null, 2) + '\n');
    log(`results written to ${path.relative(REPO, RESULTS_FILE)} (${Math.round((Date.now() - began) / 1000)} s in all)`);
  } finally {
    await cleanup();
  }
}

runBenchmark(main);
