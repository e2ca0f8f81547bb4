/**
 * Test helpers: start the real, built sidecar CLI as a child process, talk to
 * it over HTTP, and make sure nothing it started outlives the test file.
 *
 * Nothing here builds: run `npx tsc -p sidecar/tsconfig.json` (or `npm run
 * build`) from the repository root first; the helpers fail with that advice
 * when sidecar/dist is missing.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { API_PATH, RestartAccepted, StatusResponse } from '@jupyterlab-gpu-workspace/api';
import { stringify as toYaml } from 'yaml';
import { execute, openWebSocket } from './kernel';

export const SIDECAR_DIR = path.resolve(__dirname, '..', '..');
export const REPO_ROOT = path.resolve(SIDECAR_DIR, '..');
const BIN = path.join(SIDECAR_DIR, 'bin', 'gpu-workspace.js');
const BUILT_CLI = path.join(SIDECAR_DIR, 'dist', 'cli', 'main.js');

export { API_PATH };

/** How long a Jupyter start may take on a slow, busy 2-core machine. */
export const START_TIMEOUT_MS = 90_000;

const BUILD_ADVICE =
  'Run `npx tsc -p sidecar/tsconfig.json` (or `npm run build:sidecar`) in the repository root, then run the tests again.';

/** Fails with what to do when the sidecar has not been built, or was built from older sources. */
export function assertBuilt(): void {
  if (!fs.existsSync(BUILT_CLI)) {
    throw new Error(`The sidecar is not built: ${BUILT_CLI} is missing. ${BUILD_ADVICE}`);
  }
  const srcDir = path.join(SIDECAR_DIR, 'src');
  const sources = (fs.readdirSync(srcDir, { recursive: true }) as string[]).filter(n => n.endsWith('.ts'));
  for (const name of sources) {
    const built = path.join(SIDECAR_DIR, 'dist', name.replace(/\.ts$/, '.js'));
    if (!fs.existsSync(built) || fs.statSync(built).mtimeMs < fs.statSync(path.join(srcDir, name)).mtimeMs) {
      throw new Error(`The sidecar build is out of date: src/${name} is newer than dist/. ${BUILD_ADVICE}`);
    }
  }
}

/** A port that was free a moment ago (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface TempDirs {
  root: string;
  home: string;
  stateDir: string;
  remove(): void;
}

/** A fresh home folder and state directory under the OS temp dir (kept apart, as in production). */
export function makeTempDirs(): TempDirs {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-workspace-test-'));
  const home = path.join(root, 'home');
  const stateDir = path.join(root, 'state');
  fs.mkdirSync(home);
  return {
    root,
    home,
    stateDir,
    remove: () => fs.rmSync(root, { recursive: true, force: true })
  };
}

/** Writes an operator config file: objects as YAML, strings verbatim (to test broken files). */
export function writeConfig(dir: string, config: Record<string, unknown> | string, name = 'config.yaml'): string {
  const file = path.join(dir, name);
  // 0600, as an operator keeps a file that may hold the operator token: the notebook user must not read it.
  fs.writeFileSync(file, typeof config === 'string' ? config : toYaml(config), { mode: 0o600 });
  return file;
}

/** Every child this process started, so a crash in a test still leaves nothing behind. */
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
    }
  }
});

export interface ExitResult {
  code: number | null;
  signal: NodeJS.Signals | null;
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<ExitResult | null> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise(resolve => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(null);
    }, timeoutMs);
    const onExit = (code: number | null, sig: NodeJS.Signals | null): void => {
      clearTimeout(timer);
      resolve({ code, signal: sig });
    };
    child.once('exit', onExit);
  });
}

function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; output: { stdout: string; stderr: string } } {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  // The tests choose the token; one from the developer's shell must not leak in.
  if (!('GPU_WORKSPACE_TOKEN' in env)) {
    delete childEnv.GPU_WORKSPACE_TOKEN;
  }
  for (const key of Object.keys(childEnv)) {
    if (key.startsWith('GPU_WORKSPACE__') && !(key in env)) {
      delete childEnv[key];
    }
  }
  const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const output = { stdout: '', stderr: '' };
  child.stdout?.on('data', (d: Buffer) => (output.stdout += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (output.stderr += d.toString('utf8')));
  return { child, output };
}

export interface SidecarOptions {
  /** The workspace token (default: the tests' shared one). */
  token?: string;
  /** Operator config (written as YAML); omitted: no --config. */
  config?: Record<string, unknown>;
  /** Extra CLI arguments, e.g. ['--base-url', '/user/alice/']. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /**
   * Reuse these home and state folders (e.g. to start a sidecar again on the
   * state a stopped one left). The caller owns them: stop() leaves them in place.
   */
  dirs?: TempDirs;
}

export interface Sidecar {
  port: number;
  token: string;
  /** "/" or the --base-url prefix. */
  baseUrl: string;
  /** http://127.0.0.1:PORT */
  origin: string;
  /** The URL the sidecar printed when it became ready. */
  readyUrl: string;
  dirs: TempDirs;
  pid: number;
  stdout(): string;
  stderr(): string;
  /** Absolute URL for a path below the base URL ("api/contents"). */
  url(pathBelowBase: string): string;
  /** Absolute URL for a sidecar API route ("status"). */
  apiUrl(route: string): string;
  /** Sends a signal and waits for the exit; null if it did not exit in time. */
  signalAndWait(sig: NodeJS.Signals, timeoutMs: number): Promise<ExitResult | null>;
  /** SIGTERM, then SIGKILL if needed, then removes the temp dirs (unless passed in). Safe to call twice. */
  stop(): Promise<void>;
}

const TEST_TOKEN = 'test-token-0123456789abcdef';

/**
 * Starts `gpu-workspace serve` with a free port, fresh temp dirs and a known
 * token, and resolves once it prints its ready line. Rejects with its output
 * if it exits or does not get ready in time.
 */
export async function startSidecar(options: SidecarOptions = {}): Promise<Sidecar> {
  assertBuilt();
  const dirs = options.dirs ?? makeTempDirs();
  const port = await freePort();
  const token = options.token ?? TEST_TOKEN;
  // The token travels in the environment, as the README advises: a command line is world-readable.
  const args = ['serve', '--port', String(port), '--home', dirs.home, '--state-dir', dirs.stateDir];
  if (options.config) {
    args.push('--config', writeConfig(dirs.root, options.config));
  }
  args.push(...(options.args ?? []));
  const baseIndex = args.indexOf('--base-url');
  const baseUrl = baseIndex >= 0 ? args[baseIndex + 1] : '/';

  const hostIndex = args.indexOf('--host');
  const host = hostIndex >= 0 ? args[hostIndex + 1] : '127.0.0.1';

  const { child, output } = spawnCli(args, { ...options.env, GPU_WORKSPACE_TOKEN: token });
  const origin = `http://${host}:${port}`;
  const readyUrl = `${origin}${baseUrl}lab?token=${token}`;

  let stopped = false;
  const sidecar: Sidecar = {
    port,
    token,
    baseUrl,
    origin,
    readyUrl,
    dirs,
    pid: child.pid as number,
    stdout: () => output.stdout,
    stderr: () => output.stderr,
    url: p => `${origin}${baseUrl}${p.replace(/^\//, '')}`,
    apiUrl: route => `${origin}${baseUrl}${API_PATH}/${route.replace(/^\//, '')}`,
    signalAndWait: (sig, timeoutMs) => {
      child.kill(sig);
      return waitForExit(child, timeoutMs);
    },
    stop: async () => {
      if (stopped) {
        return;
      }
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        if (!(await waitForExit(child, 30_000))) {
          child.kill('SIGKILL');
          await waitForExit(child, 5_000);
        }
      }
      if (!options.dirs) {
        dirs.remove();
      }
    }
  };

  const ready = await new Promise<boolean>(resolve => {
    const timer = setTimeout(() => finish(false), START_TIMEOUT_MS);
    const onData = (): void => {
      if (output.stdout.includes(readyUrl)) {
        finish(true);
      }
    };
    const onExit = (): void => finish(false);
    const finish = (ok: boolean): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      resolve(ok);
    };
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
    onData();
  });
  if (!ready) {
    const how =
      child.exitCode !== null || child.signalCode !== null
        ? `exited (code ${child.exitCode}, signal ${child.signalCode})`
        : `did not print ${readyUrl} within ${START_TIMEOUT_MS / 1000} s`;
    await sidecar.stop();
    throw new Error(`The sidecar ${how}.\n--- stdout ---\n${output.stdout}\n--- stderr ---\n${output.stderr}`);
  }
  return sidecar;
}

export interface CliRun extends ExitResult {
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

/**
 * Runs `gpu-workspace serve` expecting it to stop by itself (a start-up
 * error), with fresh temp dirs and optionally a config file. Fails if it is
 * still running after `timeoutMs`.
 */
export async function runUntilExit(
  options: { config?: Record<string, unknown> | string; configName?: string; port?: number; timeoutMs?: number; dirs?: TempDirs } = {}
): Promise<CliRun> {
  assertBuilt();
  const dirs = options.dirs ?? makeTempDirs();
  try {
    const port = options.port ?? (await freePort());
    const args = ['serve', '--port', String(port), '--home', dirs.home, '--state-dir', dirs.stateDir];
    if (options.config !== undefined) {
      args.push('--config', writeConfig(dirs.root, options.config, options.configName));
    }
    const started = Date.now();
    const { child, output } = spawnCli(args, { GPU_WORKSPACE_TOKEN: TEST_TOKEN });
    const timeoutMs = options.timeoutMs ?? 15_000;
    const result = await waitForExit(child, timeoutMs);
    if (!result) {
      child.kill('SIGKILL');
      await waitForExit(child, 5_000);
      throw new Error(
        `gpu-workspace was still running after ${timeoutMs / 1000} s; expected it to exit with an error.\n` +
          `--- stdout ---\n${output.stdout}\n--- stderr ---\n${output.stderr}`
      );
    }
    return { ...result, stdout: output.stdout, stderr: output.stderr, elapsedMs: Date.now() - started };
  } finally {
    if (!options.dirs) {
      dirs.remove();
    }
  }
}

/**
 * Polls `check` until it returns a value other than undefined, or fails
 * after `timeoutMs` with `what` and the last value or error seen.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  { timeoutMs = 30_000, intervalMs = 200 }: { timeoutMs?: number; intervalMs?: number } = {}
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = undefined;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) {
        return value;
      }
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? ` Last error: ${last.message}` : '';
      throw new Error(`Timed out after ${timeoutMs / 1000} s waiting for ${what}.${detail}`);
    }
    await new Promise(r => setTimeout(r, intervalMs));
  }
}

export interface JsonResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

/** fetch that parses a JSON body (or fails saying what came instead); 30 s limit per request. */
export async function fetchJson<T = Record<string, unknown>>(url: string, init: RequestInit = {}): Promise<JsonResponse<T>> {
  const res = await fetch(url, { signal: AbortSignal.timeout(30_000), ...init });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  if (!type.includes('application/json')) {
    throw new Error(`${init.method ?? 'GET'} ${url} answered ${res.status} with ${type || 'no content type'}, not JSON: ${text.slice(0, 200)}`);
  }
  return { status: res.status, headers: res.headers, body: JSON.parse(text) as T };
}

/** Authorization header for the sidecar's token. */
export function tokenHeader(sidecar: Sidecar): Record<string, string> {
  return { authorization: `token ${sidecar.token}` };
}

/** The shape of GET status: the wire contract's own type. */
export type StatusBody = StatusResponse;

export async function getStatus(sidecar: Sidecar): Promise<StatusBody> {
  const res = await fetchJson<StatusBody>(sidecar.apiUrl('status'), { headers: tokenHeader(sidecar) });
  if (res.status !== 200) {
    throw new Error(`GET status answered ${res.status}: ${JSON.stringify(res.body)}`);
  }
  return res.body;
}

export interface LoginCookies {
  /** The Cookie header a browser would send: the login cookie and _xsrf. */
  header: string;
  xsrf: string;
  loginCookieName: string;
}

/** Logs in the way a browser does, by opening /lab?token=T, and keeps the cookies Jupyter sets. */
export async function login(sidecar: Sidecar): Promise<LoginCookies> {
  const res = await fetch(sidecar.readyUrl, { redirect: 'manual', signal: AbortSignal.timeout(30_000) });
  await res.arrayBuffer();
  const cookies = new Map<string, string>();
  for (const line of res.headers.getSetCookie()) {
    const [pair] = line.split(';');
    const eq = pair.indexOf('=');
    cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
  }
  const xsrf = cookies.get('_xsrf');
  const loginCookieName = Array.from(cookies.keys()).find(name => name.startsWith('gpu-workspace-session-'));
  if (!xsrf || !loginCookieName) {
    throw new Error(`GET ${sidecar.readyUrl} (${res.status}) did not set a login cookie and _xsrf: ${JSON.stringify(Array.from(cookies.keys()))}`);
  }
  return {
    header: Array.from(cookies, ([k, v]) => `${k}=${v}`).join('; '),
    xsrf,
    loginCookieName
  };
}

/** Whether a process exists and is not a zombie (a zombie holds nothing; its parent reaps it). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false; // Gone between the two checks.
  }
}

function readProc(pid: number): { ppid: number; cmdline: string } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    return { ppid: Number(fields[1]), cmdline };
  } catch {
    return undefined;
  }
}

/** Live processes whose command line contains `text` (e.g. a state directory's path). */
export function processesMentioning(text: string): { pid: number; cmdline: string }[] {
  const out: { pid: number; cmdline: string }[] = [];
  for (const name of fs.readdirSync('/proc')) {
    const pid = Number(name);
    const info = /^\d+$/.test(name) && pid !== process.pid ? readProc(pid) : undefined;
    if (info && info.cmdline.includes(text) && isRunning(pid)) {
      out.push({ pid, cmdline: info.cmdline });
    }
  }
  return out;
}

/** Live descendants of `root` with their command lines, read from /proc. */
export function descendants(root: number): { pid: number; cmdline: string }[] {
  const byParent = new Map<number, { pid: number; cmdline: string }[]>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) {
      continue;
    }
    const info = readProc(Number(name));
    if (info) {
      const list = byParent.get(info.ppid) ?? [];
      list.push({ pid: Number(name), cmdline: info.cmdline });
      byParent.set(info.ppid, list);
    }
  }
  const out: { pid: number; cmdline: string }[] = [];
  const queue = [...(byParent.get(root) ?? [])];
  while (queue.length) {
    const next = queue.shift() as { pid: number; cmdline: string };
    out.push(next);
    queue.push(...(byParent.get(next.pid) ?? []));
  }
  return out;
}

/** Starts a Python kernel through the proxy and returns its id. */
export async function startKernel(sidecar: Sidecar): Promise<string> {
  const res = await fetchJson<{ id: string }>(sidecar.url('api/kernels'), {
    method: 'POST',
    headers: { ...tokenHeader(sidecar), 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'python3' })
  });
  if (res.status !== 201) {
    throw new Error(`POST api/kernels answered ${res.status}: ${JSON.stringify(res.body)}`);
  }
  return res.body.id;
}

/** A stack trace line as Node prints it. */
export const STACK_LINE = '    at ';

/** How long a restart or GPU switch may take on a slow, busy 2-core machine. */
export const RESTART_TIMEOUT_MS = 120_000;

/** POST server/restart: answers 202 at once while the restart runs. */
export function postRestart(sidecar: Sidecar, headers: Record<string, string> = tokenHeader(sidecar)): Promise<JsonResponse<RestartAccepted>> {
  return fetchJson<RestartAccepted>(sidecar.apiUrl('server/restart'), { method: 'POST', headers, signal: AbortSignal.timeout(30_000) });
}

/**
 * Waits until the Jupyter server started after `generation` runs (the
 * restart asked for is complete), and returns that status. Fails with
 * `last_error` if the restart failed.
 */
export async function waitForGeneration(sidecar: Sidecar, generation: number, timeoutMs = RESTART_TIMEOUT_MS): Promise<StatusBody> {
  return waitFor(
    `Jupyter generation > ${generation} running`,
    async () => {
      const status = await getStatus(sidecar);
      if (status.jupyter.state === 'running' && status.jupyter.generation > generation) {
        return status;
      }
      if (status.jupyter.last_error && status.jupyter.state !== 'restarting') {
        throw new Error(`the restart failed: ${status.jupyter.last_error}`);
      }
      return undefined;
    },
    { timeoutMs, intervalMs: 100 }
  );
}

/** Restarts Jupyter through the API and waits for it to run again. */
export async function restartAndWait(sidecar: Sidecar): Promise<{ accepted: JsonResponse<RestartAccepted>; after: StatusBody }> {
  const accepted = await postRestart(sidecar);
  if (accepted.status !== 202) {
    throw new Error(`POST server/restart answered ${accepted.status}: ${JSON.stringify(accepted.body)}`);
  }
  return { accepted, after: await waitForGeneration(sidecar, accepted.body.jupyter.generation) };
}

/**
 * Starts a new kernel, runs `code` in it, shuts it down, and resolves with
 * what it printed. Fails with the kernel's error if the code raised.
 */
export async function runInNewKernel(sidecar: Sidecar, code: string): Promise<string> {
  const kernelId = await startKernel(sidecar);
  try {
    const ws = await openWebSocket(sidecar.url(`api/kernels/${kernelId}/channels?token=${sidecar.token}`).replace(/^http/, 'ws'));
    try {
      const { stdout, reply } = await execute(ws, code);
      if (reply.content.status !== 'ok') {
        throw new Error(`The kernel answered ${JSON.stringify(reply.content)}`);
      }
      return stdout;
    } finally {
      ws.close();
    }
  } finally {
    await fetch(sidecar.url(`api/kernels/${kernelId}`), { method: 'DELETE', headers: tokenHeader(sidecar), signal: AbortSignal.timeout(30_000) });
  }
}
