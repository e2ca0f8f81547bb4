/**
 * Inactivity timeout benchmark.
 *
 * - Deadline precision: over BENCH_IDLE_RUNS runs (default 20) the workspace,
 *   left alone, must stop within 2 s of its deadline (stopped_at − deadline,
 *   and as seen by a client polling every 50 ms). One more run holds a lease
 *   (a live process heartbeating) for twice the timeout: no stop allowed.
 * - Cost: the sidecar's CPU time (utime + stime from /proc) per 1,000 user
 *   heartbeats (POST activity).
 * - Stop and start: from POST server/start to a kernel ready (idle) in the
 *   restarted server, against a plain `jupyter lab` started from nothing to a
 *   kernel ready. Rounds alternate; the ratio of medians is reported.
 *
 * Run from the repository root: `npm run bench:idle` (builds nothing: run `npm run build` first).
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { IdleStatus, StatusResponse } from '@jupyterlab-gpu-workspace/api';
import { execute, openWebSocket } from '../sidecar/test/support/kernel';
import { freePort } from './harness';

const ROOT = path.resolve(__dirname, '..');
const TOKEN = 'bench-idle-token-0123456789';
const RUNS = Number(process.env.BENCH_IDLE_RUNS ?? 20);
const START_ROUNDS = Number(process.env.BENCH_IDLE_START_ROUNDS ?? 5);
const HEARTBEATS = 1000;
const TIMEOUT_MINUTES = 0.05; // 3 s
const PRECISION_MS = 2000;
const JUPYTER = path.join(ROOT, '.venv', 'bin', 'jupyter');
const children: ChildProcess[] = [];

const sleep = (ms: number): Promise<void> => new Promise(r => setTimeout(r, ms));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function call<T>(url: string, method = 'GET', body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(url, {
    method,
    headers: { authorization: `token ${TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000)
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 120_000, intervalMs = 50): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check().catch(() => false)) {
      return;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function cpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}

/** Starts a kernel on `origin` and resolves once it has run code (a kernel ready for the user). */
async function kernelReady(origin: string): Promise<string> {
  const created = await call<{ id: string }>(`${origin}/api/kernels`, 'POST', { name: 'python3' });
  if (created.status !== 201) {
    throw new Error(`POST api/kernels → ${created.status}`);
  }
  const id = created.body.id;
  const ws = await openWebSocket(`${origin.replace(/^http/, 'ws')}/api/kernels/${id}/channels?token=${TOKEN}`);
  try {
    await execute(ws, '1');
  } finally {
    ws.close();
  }
  return id;
}

async function plainJupyterStart(): Promise<number> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-idle-plain-'));
  const t0 = performance.now();
  const child = spawn(JUPYTER, ['lab', '--no-browser', `--port=${port}`, '--ip=127.0.0.1', `--IdentityProvider.token=${TOKEN}`, `--ServerApp.root_dir=${dir}`, ...(process.getuid?.() === 0 ? ['--allow-root'] : [])], {
    stdio: 'ignore',
    detached: true
  });
  children.push(child);
  try {
    const origin = `http://127.0.0.1:${port}`;
    await waitFor('plain Jupyter', async () => (await fetch(`${origin}/api`)).status === 200);
    await kernelReady(origin);
    return performance.now() - t0;
  } finally {
    child.kill('SIGTERM');
    await new Promise(r => child.once('exit', r));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-idle-'));
  fs.mkdirSync(path.join(dir, 'home'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ idle: { timeout_minutes: TIMEOUT_MINUTES, warning_minutes: 0.01 }, keep_awake: { heartbeat_seconds: 1 } }));
  const sidecar = spawn(process.execPath, [path.join(ROOT, 'sidecar', 'bin', 'gpu-workspace.js'), 'serve', '--port', String(port), '--home', path.join(dir, 'home'), '--state-dir', path.join(dir, 'state'), '--token', TOKEN, '--config', path.join(dir, 'config.json')], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PATH: `${path.join(ROOT, '.venv', 'bin')}:${process.env.PATH}` }
  });
  children.push(sidecar);
  sidecar.stdout?.resume();
  sidecar.stderr?.resume();
  const origin = `http://127.0.0.1:${port}`;
  const api = `${origin}/gpu-workspace/api/v1`;
  const idle = async (): Promise<IdleStatus> => (await call<StatusResponse>(`${api}/status`)).body.idle;
  try {
    await waitFor('the sidecar and Jupyter', async () => (await call<StatusResponse>(`${api}/status`)).body.jupyter.state === 'running');

    // Cost of heartbeats.
    const before = cpuMs(sidecar.pid as number);
    const t0 = performance.now();
    for (let i = 0; i < HEARTBEATS; i++) {
      await call(`${api}/activity`, 'POST', {});
    }
    const wall = performance.now() - t0;
    const heartbeatCpu = cpuMs(sidecar.pid as number) - before;

    // Deadline precision, and Start → kernel ready after each stop.
    const serverLate: number[] = [];
    const seenLate: number[] = [];
    const startMs: number[] = [];
    const plainMs: number[] = [];
    const ensureRunning = async (): Promise<void> => {
      // The plain Jupyter round takes longer than the timeout: the workspace may have stopped meanwhile.
      if ((await idle()).state === 'stopped') {
        await waitFor('Jupyter down', async () => (await call<StatusResponse>(`${api}/status`)).body.jupyter.state === 'stopped');
        await call(`${api}/server/start`, 'POST', {});
        await waitFor('running again', async () => (await idle()).state !== 'stopped', 120_000);
      }
      await call(`${api}/activity`, 'POST', {});
    };
    for (let run = 0; run < RUNS; run++) {
      await ensureRunning();
      const { deadline } = await idle();
      await waitFor('the idle stop', async () => (await idle()).state === 'stopped', 60_000, 50);
      seenLate.push(Date.now() - Date.parse(deadline as string));
      serverLate.push(Date.parse((await idle()).stopped_at as string) - Date.parse(deadline as string));
      await waitFor('Jupyter down', async () => (await call<StatusResponse>(`${api}/status`)).body.jupyter.state === 'stopped');
      const s0 = performance.now();
      await call(`${api}/server/start`, 'POST', {});
      await waitFor('running again', async () => (await call<StatusResponse>(`${api}/status`)).body.jupyter.state === 'running', 120_000, 20);
      await kernelReady(origin);
      if (run < START_ROUNDS) {
        startMs.push(performance.now() - s0);
        plainMs.push(await plainJupyterStart());
      }
      process.stderr.write(`run ${run + 1}/${RUNS}: stop ${serverLate[run]} ms after the deadline (seen after ${seenLate[run]} ms)\n`);
    }

    // A lease alive for twice the timeout: no stop.
    await ensureRunning();
    const holder = spawn('sleep', ['60'], { stdio: 'ignore' });
    children.push(holder);
    const lease = await call<{ lease: { id: string } }>(`${api}/leases`, 'POST', { label: 'bench', pid: holder.pid });
    let stoppedWhileHeld = false;
    const until = Date.now() + TIMEOUT_MINUTES * 60_000 * 2;
    while (Date.now() < until) {
      await call(`${api}/leases/${lease.body.lease.id}/heartbeat`, 'POST', {});
      stoppedWhileHeld ||= (await idle()).state === 'stopped';
      await sleep(300);
    }
    holder.kill('SIGKILL');

    const worst = Math.max(...serverLate, ...seenLate);
    const ratio = median(startMs) / median(plainMs);
    const lines = [
      '',
      `Deadline precision (${RUNS} runs, timeout ${TIMEOUT_MINUTES * 60} s): stop after the deadline median ${median(serverLate).toFixed(0)} ms, max ${Math.max(...serverLate)} ms (seen by a client: max ${Math.max(...seenLate)} ms)  ${worst <= PRECISION_MS ? 'PASS' : 'MISS'} (≤ ${PRECISION_MS} ms)`,
      `No stop while a lease is alive (2× the timeout): ${stoppedWhileHeld ? 'MISS (it stopped)' : 'PASS'}`,
      `Cost: ${heartbeatCpu.toFixed(0)} ms of sidecar CPU per ${HEARTBEATS} heartbeats (${(wall / HEARTBEATS).toFixed(2)} ms wall each, sequential)`,
      `Start → kernel ready: median ${median(startMs).toFixed(0)} ms; plain Jupyter start → kernel ready: median ${median(plainMs).toFixed(0)} ms; ratio ${ratio.toFixed(2)} (${START_ROUNDS} rounds each)`
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
      }
    }
    await sleep(2000);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch(err => {
  process.stderr.write(`bench:idle failed: ${(err as Error).stack ?? err}\n`);
  for (const child of children) {
    child.kill('SIGKILL');
  }
  process.exit(1);
});
