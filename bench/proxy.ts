/**
 * Proxy benchmark: the same workload against three front doors, in one run.
 *
 *   direct   plain `jupyter lab` on loopback TCP, as people run it today
 *   sidecar  our CLI (`gpu-workspace serve`), Jupyter on a private Unix socket behind it
 *   chp      configurable-http-proxy (JupyterHub's proxy) in front of the direct Jupyter
 *
 * Workload per target: kernel execute round trips over the kernel WebSocket
 * (v1 binary protocol, as JupyterLab 4 speaks it), sequential REST
 * GET /api/contents over a keep-alive connection, and the throughput of a large
 * kernel output stream. Also the resident memory and CPU time of the sidecar's
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
 *   BENCH_FLOOR=0          skip the reference "floor" (the sidecar's Jupyter on its Unix socket, no proxy)
 *   BENCH_NO_BUILD=1       do not rebuild sidecar/dist when it is older than sidecar/src
 *
 * Prints a table and PASS/MISS per goal, writes bench/results/proxy-latest.json,
 * and exits 0 whatever the verdicts (non-zero only when the benchmark itself fails).
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { descendantsOf, isAlive } from '../sidecar/src/jupyter/processes';

// ---------------------------------------------------------------- settings

function envNumber(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') {
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min) {
    throw new Error(`${name} must be a number >= ${min}, not "${raw}".`);
  }
  return value;
}

const SETTINGS = {
  kernelExecs: Math.floor(envNumber('BENCH_KERNEL_EXECS', 2000, 1)),
  kernelWarmup: Math.floor(envNumber('BENCH_KERNEL_WARMUP', 50, 0)),
  restRequests: Math.floor(envNumber('BENCH_REST_REQUESTS', 500, 1)),
  streamMb: Math.floor(envNumber('BENCH_STREAM_MB', 100, 1)),
  streamRuns: Math.floor(envNumber('BENCH_STREAM_RUNS', 5, 1)),
  block: Math.floor(envNumber('BENCH_BLOCK', 10, 1)),
  settleSeconds: Math.floor(envNumber('BENCH_SETTLE_SECONDS', 10, 0)),
  /** Also measure Jupyter's own Unix socket with no proxy, as a reference. */
  floor: process.env.BENCH_FLOOR !== '0'
};

const REPO = path.resolve(__dirname, '..');
const JUPYTER = path.join(REPO, '.venv', 'bin', 'jupyter');
const SIDECAR_BIN = path.join(REPO, 'sidecar', 'bin', 'gpu-workspace.js');
const CHP_BIN = path.join(REPO, 'node_modules', 'configurable-http-proxy', 'bin', 'configurable-http-proxy');
const RESULTS_FILE = path.join(REPO, 'bench', 'results', 'proxy-latest.json');
const TOKEN = `bench-${randomUUID().replace(/-/g, '')}`;
const WS_PROTOCOL = 'v1.kernel.websocket.jupyter.org';
const RATE_LIMIT_ARG = '--ServerApp.iopub_data_rate_limit=1e12';
const START_TIMEOUT_MS = 120_000;

const GOALS = {
  kernelP50VsDirect: 0.2,
  restP50VsDirect: 1.1,
  throughputVsDirect: 0.9,
  idleRssMb: 80
};

type TargetName = 'direct' | 'sidecar' | 'chp' | 'floor';
type PerTarget<T> = Partial<Record<TargetName, T>>;
/** Where a target listens: loopback TCP, or (the floor) the sidecar's Jupyter's own Unix socket. */
type Endpoint = { port: number; socketPath?: undefined } | { socketPath: string; port?: undefined };

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms));

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

// ---------------------------------------------------------------- processes

interface Managed {
  name: string;
  child: ChildProcess;
  pid: number;
  /** Last lines of stdout+stderr, for error messages. */
  tail: string[];
  exited: Promise<void>;
  done: boolean;
}

const managed: Managed[] = [];

function kill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

/**
 * Starts a child in a process group of its own (a Ctrl-C reaches only us, and
 * we stop everything in order). Wrapped in `setpriv --pdeathsig SIGTERM` where
 * available, so nothing outlives a benchmark that is killed outright.
 */
function startProcess(name: string, file: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Managed {
  const pdeathsig = fs.existsSync('/usr/bin/setpriv');
  const child = spawn(pdeathsig ? '/usr/bin/setpriv' : file, pdeathsig ? ['--pdeathsig', 'SIGTERM', '--', file, ...args] : args, {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true
  });
  if (child.pid === undefined) {
    throw new Error(`could not start ${name} (${file})`);
  }
  const m: Managed = { name, child, pid: child.pid, tail: [], exited: Promise.resolve(), done: false };
  m.exited = new Promise(resolve =>
    child.once('exit', () => {
      m.done = true;
      resolve();
    })
  );
  child.once('error', err => m.tail.push(`spawn error: ${err.message}`));
  const capture = (data: Buffer): void => {
    for (const line of data.toString('utf8').split('\n')) {
      if (line.trim()) {
        m.tail.push(line.replaceAll(TOKEN, '<token>'));
      }
    }
    if (m.tail.length > 40) {
      m.tail.splice(0, m.tail.length - 40);
    }
  };
  child.stdout?.on('data', capture);
  child.stderr?.on('data', capture);
  managed.push(m);
  return m;
}

/** SIGTERM, a grace period, then SIGKILL for the process and every descendant it had. */
async function stopProcess(m: Managed, graceMs: number): Promise<void> {
  const tree = m.done ? [] : descendantsOf(m.pid);
  if (!m.done) {
    kill(m.pid, 'SIGTERM');
    await Promise.race([m.exited, sleep(graceMs)]);
  }
  for (let i = 0; i < 30 && [m.pid, ...tree].some(isAlive); i++) {
    await sleep(100);
  }
  for (const pid of [m.pid, ...tree]) {
    if (isAlive(pid)) {
      log(`${m.name}: pid ${pid} still running after ${graceMs} ms; killing it`);
      kill(pid, 'SIGKILL');
    }
  }
  kill(-m.pid, 'SIGKILL');
}

let cleaningUp: Promise<void> | null = null;
/** Scratch folders to remove once every process is stopped. */
const scratch: string[] = [];

function cleanup(): Promise<void> {
  // The sidecar stops its own Jupyter and kernels; CHP before the Jupyter behind it.
  const order = ['chp', 'sidecar', 'direct-jupyter'];
  cleaningUp ??= (async () => {
    const sorted = [...managed].sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
    for (const m of sorted) {
      await stopProcess(m, 20_000);
    }
    for (const dir of scratch) {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  })();
  return cleaningUp;
}

// Last resort when the process exits without the async clean-up (an exception thrown synchronously, process.exit).
process.on('exit', () => {
  for (const m of managed) {
    if (!m.done) {
      for (const pid of [m.pid, ...descendantsOf(m.pid)]) {
        kill(pid, 'SIGKILL');
      }
    }
  }
});

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (cleaningUp) {
      process.exit(130);
    }
    log(`${sig}: stopping everything the benchmark started`);
    void cleanup().finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------- HTTP helpers

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

interface HttpResult {
  status: number;
  body: string;
}

function request(
  endpoint: Endpoint,
  urlPath: string,
  options: { method?: string; body?: string; agent?: http.Agent; timeoutMs?: number } = {}
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        ...(endpoint.socketPath !== undefined ? { socketPath: endpoint.socketPath } : { host: '127.0.0.1', port: endpoint.port }),
        path: urlPath,
        method: options.method ?? 'GET',
        agent: options.agent ?? false,
        headers: {
          authorization: `token ${TOKEN}`,
          ...(options.body !== undefined ? { 'content-type': 'application/json' } : {})
        },
        timeout: options.timeoutMs ?? 10_000
      },
      res => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      }
    );
    req.on('timeout', () => req.destroy(new Error(`${options.method ?? 'GET'} ${urlPath} timed out`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

async function waitForHttp(m: Managed, port: number, what: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (m.done) {
      throw new Error(`${what} exited during start-up. Its last output:\n${m.tail.join('\n')}`);
    }
    try {
      const res = await request({ port }, '/api', { timeoutMs: 2000 });
      if (res.status === 200) {
        return;
      }
    } catch {
      // Not listening yet.
    }
    await sleep(100);
  }
  throw new Error(`${what} did not answer on port ${port} within ${START_TIMEOUT_MS / 1000} s. Its last output:\n${m.tail.join('\n')}`);
}

function waitForLine(m: Managed, needle: string, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`${what} did not print its URL within ${START_TIMEOUT_MS / 1000} s. Its last output:\n${m.tail.join('\n')}`)), START_TIMEOUT_MS);
    let seen = '';
    const onData = (d: Buffer): void => {
      seen = (seen + d.toString('utf8')).slice(-4096);
      if (seen.includes(needle)) {
        finish();
      }
    };
    const onExit = (): void => finish(new Error(`${what} exited during start-up. Its last output:\n${m.tail.join('\n')}`));
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      m.child.stdout?.off('data', onData);
      m.child.off('exit', onExit);
      if (err) {
        reject(err);
      } else {
        resolve();
      }
    };
    m.child.stdout?.on('data', onData);
    m.child.once('exit', onExit);
  });
}

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
    const urlPath = `/api/kernels/${kernelId}/channels?session_id=${randomUUID()}&token=${TOKEN}`;
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

function rssMb(pid: number): { rss: number; hwm: number } | null {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  } catch {
    return null;
  }
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

function sidecarIsStale(): boolean {
  const distCli = path.join(REPO, 'sidecar', 'dist', 'cli.js');
  if (!fs.existsSync(distCli)) {
    return true;
  }
  const built = fs.statSync(distCli).mtimeMs;
  const srcDir = path.join(REPO, 'sidecar', 'src');
  return fs.readdirSync(srcDir).some(f => f.endsWith('.ts') && fs.statSync(path.join(srcDir, f)).mtimeMs > built);
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

// ---------------------------------------------------------------- report

interface Figures {
  kernelP50: number;
  kernelP99: number;
  restP50: number;
  restP99: number;
  throughput: number;
  rssStart: number | null;
  rssIdle: number | null;
  /** CPU the proxy process used: per kernel round trip, per REST request, per 100 MB streamed (ms). */
  cpuKernel: number | null;
  cpuRest: number | null;
  cpuStream100Mb: number | null;
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
    { label: 'output stream throughput (MB/s)', key: 'throughput', digits: 1 },
    { label: 'proxy RSS right after start (MB)', key: 'rssStart', digits: 1 },
    { label: 'proxy RSS idle after workload (MB)', key: 'rssIdle', digits: 1 },
    { label: 'proxy CPU per kernel round trip (ms)', key: 'cpuKernel', digits: 3 },
    { label: 'proxy CPU per REST request (ms)', key: 'cpuRest', digits: 3 },
    { label: 'proxy CPU per 100 MB streamed (ms)', key: 'cpuStream100Mb', digits: 0 }
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

function verdicts(s: Figures, d: Figures, c: Figures): Verdict[] {
  const out: Verdict[] = [];
  const kr = s.kernelP50 / d.kernelP50;
  out.push({ goal: `kernel round trip p50 <= ${GOALS.kernelP50VsDirect}x direct`, pass: kr <= GOALS.kernelP50VsDirect, detail: `${fmt(kr, 3)}x (${fmt(s.kernelP50)} vs ${fmt(d.kernelP50)} ms)` });
  const rr = s.restP50 / d.restP50;
  out.push({ goal: `REST p50 <= ${GOALS.restP50VsDirect}x direct`, pass: rr <= GOALS.restP50VsDirect, detail: `${fmt(rr, 3)}x (${fmt(s.restP50)} vs ${fmt(d.restP50)} ms)` });
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
  const lost = vsChp.filter(([, better]) => !better).map(([name]) => name);
  out.push({ goal: 'better than CHP on every figure', pass: lost.length === 0, detail: lost.length ? `not better on: ${lost.join(', ')}` : `better on all ${vsChp.length}` });
  out.push({ goal: `sidecar idle RSS <= ${GOALS.idleRssMb} MB`, pass: s.rssIdle !== null && s.rssIdle <= GOALS.idleRssMb, detail: `${fmt(s.rssIdle, 1)} MB idle (${fmt(s.rssStart, 1)} MB right after start)` });
  return out;
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const began = Date.now();
  if (!fs.existsSync(JUPYTER)) {
    throw new Error(`${JUPYTER} not found: create the repository's .venv with JupyterLab first.`);
  }
  if (!fs.existsSync(CHP_BIN)) {
    throw new Error(`${CHP_BIN} not found: run npm install.`);
  }
  if (process.env.BENCH_NO_BUILD !== '1' && sidecarIsStale()) {
    log('sidecar/dist is missing or older than sidecar/src: building it (BENCH_NO_BUILD=1 skips this)');
    try {
      execFileSync(process.execPath, [path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(REPO, 'sidecar', 'tsconfig.json')], { stdio: 'inherit' });
    } catch (err) {
      if (!fs.existsSync(path.join(REPO, 'sidecar', 'dist', 'cli.js'))) {
        throw new Error(`the sidecar does not build and there is no earlier build to measure: ${(err as Error).message}`);
      }
      log('WARNING: the sidecar does not build right now; measuring the existing sidecar/dist, which is older than sidecar/src');
    }
  }
  log(`settings: ${JSON.stringify(SETTINGS)}`);
  const machineAtStart = machineTicks();
  const oursAtStart = ourTicks();

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-proxy-'));
  scratch.push(tmp);
  const home = path.join(tmp, 'home');
  const stateDir = path.join(tmp, 'state');
  prepareHome(home);
  // Both Jupyter servers get the same clean, private Jupyter and IPython directories.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    JUPYTER_CONFIG_DIR: path.join(tmp, 'jupyter-config'),
    JUPYTER_RUNTIME_DIR: path.join(tmp, 'jupyter-runtime'),
    IPYTHONDIR: path.join(tmp, 'ipython'),
    PYTHONUNBUFFERED: '1'
  };
  delete env.JUPYTER_TOKEN;
  for (const key of Object.keys(env)) {
    if (key.startsWith('GPU_WORKSPACE_')) {
      delete env[key]; // the operator's own overrides must not change what is measured
    }
  }
  const configFile = path.join(tmp, 'sidecar-config.json');
  fs.writeFileSync(configFile, JSON.stringify({ log_level: 'warn', jupyter: { extra_args: [RATE_LIMIT_ARG] } }));

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
    // The floor: the sidecar's own Jupyter on its Unix socket, no proxy at all. Not a
    // goal, a reference: sidecar minus floor is what the sidecar itself adds.
    const socketPath = path.join(stateDir, 'run', 'jupyter.sock');
    if (SETTINGS.floor && fs.existsSync(socketPath)) {
      targets.push(await openTarget('floor', { socketPath }, null, null));
    } else if (SETTINGS.floor) {
      log(`no Jupyter socket at ${socketPath}: skipping the no-proxy floor`);
    }
    log(`kernels started; WebSocket protocol: ${targets.map(t => `${t.name}=${t.kernel.v1 ? 'v1' : 'json'}`).join(', ')}`);

    log(`kernel round trips: ${SETTINGS.kernelWarmup} warm-up + ${SETTINGS.kernelExecs} measured per target, blocks of ${SETTINGS.block}`);
    const kernel = await kernelLatency(targets);
    log(`REST: ${SETTINGS.restRequests} x GET /api/contents per target`);
    const rest = await restLatency(targets);
    log(`output stream: ${SETTINGS.streamMb} MB x ${SETTINGS.streamRuns} runs per target`);
    const stream = await streamThroughput(targets);

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
    const summaries: PerTarget<{ kernel: LatencySummary; rest: LatencySummary; stream: StreamRun[] }> = {};
    for (const t of targets) {
      const k = summarize(kernel[t.name] ?? []);
      const r = summarize(rest[t.name] ?? []);
      const runs = stream[t.name] ?? [];
      summaries[t.name] = { kernel: k, rest: r, stream: runs };
      figures[t.name] = {
        kernelP50: k.p50,
        kernelP99: k.p99,
        restP50: r.p50,
        restP99: r.p99,
        throughput: Math.round(median(runs.map(x => x.mbPerS)) * 10) / 10,
        rssStart: t.rssAtStartMb === null ? null : Math.round(t.rssAtStartMb * 10) / 10,
        rssIdle: idle[t.name] ? Math.round((idle[t.name]?.rss ?? 0) * 10) / 10 : null,
        cpuKernel: perUnit(proxyCpuMs.kernel[t.name], SETTINGS.kernelExecs),
        cpuRest: perUnit(proxyCpuMs.rest[t.name], SETTINGS.restRequests),
        cpuStream100Mb: perUnit(proxyCpuMs.stream[t.name], (SETTINGS.streamRuns * SETTINGS.streamMb) / 100)
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
    out.push(`stream runs (MB/s): ${targets.map(t => `${t.name} ${(summaries[t.name]?.stream ?? []).map(x => x.mbPerS.toFixed(1)).join(' ')}`).join(', ')}`);
    out.push(
      `other programs on this machine used ${foreignCpus.toFixed(2)} of ${os.cpus().length} CPUs on average during the run` +
        (foreignCpus > 0.25 ? ' — the machine was busy: expect noisy figures; run again on a quiet machine' : '')
    );
    out.push('');
    for (const x of v) {
      out.push(`${x.pass ? 'PASS' : 'MISS'}  ${x.goal}: ${x.detail}`);
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

main().then(
  () => process.exit(0),
  async (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await cleanup();
    process.exit(1);
  }
);
