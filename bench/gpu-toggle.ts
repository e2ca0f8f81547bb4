/**
 * GPU toggle benchmark: time from asking for a GPU switch to a kernel ready
 * (and executing) in the new mode, against the baseline of a plain restart of
 * a Jupyter server on the same machine followed by the same kernel start.
 * Target: toggle / plain restart ≤ 1.2 at the median.
 *
 * The sidecar runs with the test stand-in for nvidia-smi (this machine has no
 * GPU; what is timed — save, restart, kernel start — does not depend on it).
 * Rounds alternate between the two, so machine noise hits both alike.
 *
 * Run from the repository root: `node --import tsx bench/gpu-toggle.ts`
 *   BENCH_TOGGLE_ROUNDS  rounds of each (default 5)
 */
import type { RestartAccepted, StatusResponse } from '@jupyterlab-gpu-workspace/api';
import { ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { freePort } from './harness';

const ROOT = path.resolve(__dirname, '..');
const TOKEN = 'bench-toggle-token';
const ROUNDS = Number(process.env.BENCH_TOGGLE_ROUNDS ?? 5);
const JUPYTER = path.join(ROOT, '.venv', 'bin', 'jupyter');
const children: ChildProcess[] = [];

async function api(base: string, method: string, url: string, body?: unknown): Promise<unknown> {
  const res = await fetch(base + url, {
    method,
    headers: { authorization: `token ${TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body)
  });
  if (!res.ok) {
    throw new Error(`${method} ${url} → ${res.status} ${await res.text()}`);
  }
  return res.json();
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check().catch(() => false)) {
      return;
    }
    await new Promise(r => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Starts a kernel and runs one execute_request to completion: "a kernel ready in the new mode". */
async function kernelReady(base: string): Promise<string> {
  const kernel = (await api(base, 'POST', '/api/kernels', { name: 'python3' })) as { id: string };
  const ws = new WebSocket(`${base.replace('http', 'ws')}/api/kernels/${kernel.id}/channels?token=${TOKEN}`);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const msgId = randomUUID();
  const reply = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('execute timed out')), 60_000);
    ws.on('message', data => {
      const msg = JSON.parse(String(data)) as { msg_type: string; parent_header: { msg_id?: string }; content: { text?: string } };
      if (msg.parent_header.msg_id === msgId && msg.msg_type === 'stream') {
        clearTimeout(timer);
        resolve(String(msg.content.text).trim());
      }
    });
  });
  ws.send(
    JSON.stringify({
      header: { msg_id: msgId, msg_type: 'execute_request', username: 'bench', session: randomUUID(), date: new Date().toISOString(), version: '5.3' },
      parent_header: {},
      metadata: {},
      content: { code: "import os; print(repr(os.environ.get('CUDA_VISIBLE_DEVICES')))", silent: false, store_history: false, user_expressions: {}, allow_stdin: false },
      channel: 'shell'
    })
  );
  const printed = await reply;
  ws.close();
  return printed;
}

async function startSidecar(): Promise<{ base: string; proc: ChildProcess }> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-toggle-'));
  const fake = path.join(tmp, 'fake-gpu');
  fs.mkdirSync(fake);
  fs.writeFileSync(path.join(fake, 'devices.csv'), '0, GPU-bench-0, NVIDIA H100 80GB HBM3, 81559, 0, 0\n');
  fs.writeFileSync(
    path.join(tmp, 'config.json'),
    JSON.stringify({ gpu: { nvidia_smi: path.join(ROOT, 'sidecar/test/fixtures/bin/nvidia-smi'), quota: { hours: 100 } } })
  );
  const port = await freePort();
  const proc = spawn(
    process.execPath,
    [path.join(ROOT, 'sidecar/bin/gpu-workspace.js'), 'serve', '--port', String(port), '--home', path.join(tmp, 'home'), '--state-dir', path.join(tmp, 'state'), '--token', TOKEN, '--config', path.join(tmp, 'config.json')],
    { env: { ...process.env, FAKE_GPU_STATE_DIR: fake }, stdio: ['ignore', 'pipe', 'ignore'] }
  );
  children.push(proc);
  const base = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${base}/gpu-workspace/api/v1/health`)).ok, 120_000, 'the sidecar');
  return { base, proc };
}

async function startPlainJupyter(port: number, home: string): Promise<ChildProcess> {
  const args = ['lab', '--no-browser', `--port=${port}`, '--ip=127.0.0.1', `--ServerApp.root_dir=${home}`, `--IdentityProvider.token=${TOKEN}`];
  if (process.getuid?.() === 0) {
    args.push('--allow-root');
  }
  const proc = spawn(JUPYTER, args, { stdio: 'ignore', detached: true });
  children.push(proc);
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/api`)).ok, 120_000, 'plain Jupyter');
  return proc;
}

async function stopPlain(proc: ChildProcess): Promise<void> {
  const exited = new Promise<void>(r => proc.once('exit', () => r()));
  try {
    process.kill(-(proc.pid as number), 'SIGTERM');
  } catch {
    return;
  }
  await exited;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-plain-'));
  const plainPort = await freePort();
  let plain = await startPlainJupyter(plainPort, home);
  const { base } = await startSidecar();
  const plainBase = `http://127.0.0.1:${plainPort}`;
  await kernelReady(base);
  await kernelReady(plainBase);

  const toggle: number[] = [];
  const refresh: number[] = [];
  const restart: number[] = [];
  let on = false;
  for (let i = 0; i < ROUNDS; i++) {
    on = !on;
    let t = performance.now();
    await api(base, 'POST', '/gpu-workspace/api/v1/gpu', { enabled: on });
    // 202 at once: the switch is done when the status says so.
    await waitFor(async () => {
      const s = (await api(base, 'GET', '/gpu-workspace/api/v1/status')) as StatusResponse;
      return s.gpu.mode === (on ? 'on' : 'off') && s.jupyter.state === 'running';
    }, 120_000, 'the switch to end');
    const seen = await kernelReady(base);
    toggle.push(performance.now() - t);
    if (seen !== (on ? "'0'" : "''")) {
      throw new Error(`kernel after switching ${on ? 'on' : 'off'} saw CUDA_VISIBLE_DEVICES=${seen}`);
    }

    t = performance.now();
    await stopPlain(plain);
    plain = await startPlainJupyter(plainPort, home);
    await kernelReady(plainBase);
    restart.push(performance.now() - t);

    t = performance.now();
    const accepted = (await api(base, 'POST', '/gpu-workspace/api/v1/server/restart', {})) as RestartAccepted;
    await waitFor(async () => {
      const s = (await api(base, 'GET', '/gpu-workspace/api/v1/status')) as StatusResponse;
      return s.jupyter.state === 'running' && s.jupyter.generation > accepted.jupyter.generation;
    }, 120_000, 'the restart to end');
    await kernelReady(base);
    refresh.push(performance.now() - t);
    console.log(`round ${i + 1}/${ROUNDS}: toggle ${toggle[i].toFixed(0)} ms, plain restart ${restart[i].toFixed(0)} ms, refresh ${refresh[i].toFixed(0)} ms`);
  }
  const ratio = median(toggle) / median(restart);
  console.log('\nGPU toggle → kernel ready in the new mode (median of %d)', ROUNDS);
  console.log(`  plain Jupyter restart + kernel (baseline) ${median(restart).toFixed(0).padStart(6)} ms`);
  console.log(`  GPU toggle through the sidecar            ${median(toggle).toFixed(0).padStart(6)} ms`);
  console.log(`  Refresh Workspace through the sidecar     ${median(refresh).toFixed(0).padStart(6)} ms`);
  console.log(`  ratio toggle / plain restart              ${ratio.toFixed(2).padStart(6)}   target ≤ 1.20  ${ratio <= 1.2 ? 'PASS' : 'MISS'}`);
}

function cleanup(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null && c.pid) {
      try {
        process.kill(c.pid, 'SIGTERM');
      } catch {
        // gone
      }
      try {
        process.kill(-c.pid, 'SIGTERM');
      } catch {
        // not a group leader
      }
    }
  }
}

process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});
main()
  .catch(err => {
    console.error(`benchmark failed: ${(err as Error).message}`);
    process.exitCode = 1;
  })
  .finally(() => setTimeout(() => { cleanup(); process.exit(); }, 500));
