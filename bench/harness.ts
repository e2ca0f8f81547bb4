/**
 * What the benchmarks share: the processes they start (and always stop), the
 * token and HTTP helpers, and the sidecar build check. Run from the
 * repository root through the npm scripts (`npm run bench:proxy`, `npm run
 * bench:cold-load`).
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { descendantsOf, isAlive } from '../sidecar/src/jupyter/processes';

export const REPO = path.resolve(__dirname, '..');
export const JUPYTER = path.join(REPO, '.venv', 'bin', 'jupyter');
export const SIDECAR_BIN = path.join(REPO, 'sidecar', 'bin', 'gpu-workspace.js');
/** One token per benchmark run, for every server it starts (scrubbed from their output). */
export const TOKEN = `bench-${randomUUID().replace(/-/g, '')}`;
export const START_TIMEOUT_MS = 120_000;

/** Where a target listens: loopback TCP, or a Unix socket. */
/** Where a target answers; `token` when it is not the benchmark's TOKEN (the sidecar's Jupyter has one of its own). */
export type Endpoint = ({ port: number; socketPath?: undefined } | { socketPath: string; port?: undefined }) & { token?: string };

export function envNumber(name: string, fallback: number, min: number): number {
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

export const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms));

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

// ---------------------------------------------------------------- processes

export interface Managed {
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
export function startProcess(name: string, file: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Managed {
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

/** The last output lines of every process a benchmark started: what to show when it fails. */
export function lastOutput(): string {
  return managed.map(m => `--- ${m.name} (pid ${m.pid}${m.done ? ', exited' : ''}) ---\n${m.tail.join('\n')}`).join('\n');
}

/** SIGTERM, a grace period, then SIGKILL for the process and every descendant it had. */
export async function stopProcess(m: Managed, graceMs: number): Promise<void> {
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
export const scratch: string[] = [];

export function cleanup(): Promise<void> {
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

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

export interface HttpResult {
  status: number;
  body: string;
}

export function request(
  endpoint: Endpoint,
  urlPath: string,
  options: { method?: string; body?: string; agent?: http.Agent; timeoutMs?: number; headers?: Record<string, string> } = {}
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        ...(endpoint.socketPath !== undefined ? { socketPath: endpoint.socketPath } : { host: '127.0.0.1', port: endpoint.port }),
        path: urlPath,
        method: options.method ?? 'GET',
        agent: options.agent ?? false,
        headers: {
          authorization: `token ${endpoint.token ?? TOKEN}`,
          ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...options.headers
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

export async function waitForHttp(m: Managed, port: number, what: string): Promise<void> {
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

export function waitForLine(m: Managed, needle: string, what: string): Promise<void> {
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

export function rssMb(pid: number): { rss: number; hwm: number } | null {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
  } catch {
    return null;
  }
}

/** True when a source file has no build output or is newer than it (the sources live in one folder per component). */
function sidecarIsStale(): boolean {
  const srcDir = path.join(REPO, 'sidecar', 'src');
  const distDir = path.join(REPO, 'sidecar', 'dist');
  return (fs.readdirSync(srcDir, { recursive: true }) as string[])
    .filter(f => f.endsWith('.ts'))
    .some(f => {
      const built = path.join(distDir, f.replace(/\.ts$/, '.js'));
      return !fs.existsSync(built) || fs.statSync(built).mtimeMs < fs.statSync(path.join(srcDir, f)).mtimeMs;
    });
}

/** Rebuilds sidecar/dist when a source is newer (unless BENCH_NO_BUILD=1); measures the old build if the new one fails. */
export function ensureSidecarBuilt(): void {
  if (process.env.BENCH_NO_BUILD === '1' || !sidecarIsStale()) {
    return;
  }
  log('sidecar/dist is missing or older than sidecar/src: building it (BENCH_NO_BUILD=1 skips this)');
  try {
    execFileSync(process.execPath, [path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(REPO, 'sidecar', 'tsconfig.json')], { stdio: 'inherit' });
  } catch (err) {
    if (!fs.existsSync(path.join(REPO, 'sidecar', 'dist', 'cli', 'main.js'))) {
      throw new Error(`the sidecar does not build and there is no earlier build to measure: ${(err as Error).message}`);
    }
    log('WARNING: the sidecar does not build right now; measuring the existing sidecar/dist, which is older than sidecar/src');
  }
}

/**
 * Environment for the servers a benchmark starts: private Jupyter and IPython
 * folders under `tmp`, and none of the operator's GPU_WORKSPACE_* overrides
 * (they must not change what is measured).
 */
export function benchEnv(tmp: string): NodeJS.ProcessEnv {
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
      delete env[key];
    }
  }
  return env;
}

/** Runs a benchmark's main: exit 0 when it finishes; on failure, the error and the children's last output, everything stopped, exit 1. */
export function runBenchmark(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    async (err: unknown) => {
      process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.stderr.write(`${lastOutput()}\n`);
      await cleanup();
      process.exit(1);
    }
  );
}
