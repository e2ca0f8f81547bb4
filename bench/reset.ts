/**
 * Reset Data benchmark: how long a reset takes, step by step, through the
 * real sidecar (real Jupyter, real restic), on a home of BENCH_RESET_FILES
 * files holding BENCH_RESET_BYTES in all (1,000 files, 100 MB by default,
 * random so nothing deduplicates by accident).
 *
 * The operator template is such a tree; before each round the "user" works
 * on the home: rewrites 10 % of the files and adds as many new ones. Then
 * POST reset, timed from the outside, and split by the sidecar's own
 * timings: the pre-reset snapshot, preparing the clean copy (Jupyter still
 * runs), stopping Jupyter, the swap, the post-reset hook (`/bin/true`,
 * which is the runner's own cost) and starting Jupyter again. The first
 * round's snapshot reads the whole home (the repository is new); later
 * rounds are what a user sees. The undo (a whole restore of the pre-reset
 * snapshot) is timed too.
 *
 * Run from the repository root: `npm run bench:reset`.
 *   BENCH_RESET_FILES   files in the home (1000)
 *   BENCH_RESET_BYTES   bytes in the home (100e6)
 *   BENCH_RESET_ROUNDS  resets (4)
 */
import type { ResetResponse, ResetUndoResponse } from '@jupyterlab-gpu-workspace/api';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  benchEnv,
  cleanup,
  ensureSidecarBuilt,
  envNumber,
  freePort,
  log,
  REPO,
  runBenchmark,
  scratch,
  SIDECAR_BIN,
  startProcess,
  TOKEN,
  waitForHttp
} from './harness';

const FILES = envNumber('BENCH_RESET_FILES', 1000, 1);
const BYTES = envNumber('BENCH_RESET_BYTES', 100e6, 1);
const ROUNDS = envNumber('BENCH_RESET_ROUNDS', 4, 1);

/** FILES files in folders of 50, sizes spread around BYTES / FILES. */
function makeTree(root: string, prefix: string): string[] {
  const files: string[] = [];
  const mean = BYTES / FILES;
  for (let i = 0; i < FILES; i++) {
    const dir = path.join(root, `${prefix}-${Math.floor(i / 50)}`);
    if (i % 50 === 0) {
      fs.mkdirSync(dir, { recursive: true });
    }
    const file = path.join(dir, `file-${i}.bin`);
    fs.writeFileSync(file, randomBytes(Math.max(1, Math.round(mean * (0.5 + ((i * 7919) % 100) / 100)))));
    files.push(file);
  }
  return files;
}

/** A user's work: 10 % of the files rewritten, as many new ones. */
function work(home: string, round: number): void {
  const all = (fs.readdirSync(home, { recursive: true }) as string[]).filter(f => f.endsWith('.bin')).sort();
  const step = 10;
  for (let i = round % step; i < all.length; i += step) {
    fs.writeFileSync(path.join(home, all[i]), randomBytes(fs.statSync(path.join(home, all[i])).size));
  }
  const dir = path.join(home, `work-${round}`);
  fs.mkdirSync(dir, { recursive: true });
  for (let i = 0; i < Math.ceil(all.length / step); i++) {
    fs.writeFileSync(path.join(dir, `new-${i}.bin`), randomBytes(Math.round(BYTES / FILES)));
  }
}

async function post<T>(base: string, route: string, body: unknown): Promise<T> {
  const res = await fetch(`${base}gpu-workspace/api/v1/${route}`, {
    method: 'POST',
    headers: { authorization: `token ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(600_000)
  });
  if (!res.ok) {
    throw new Error(`POST ${route} answered ${res.status}: ${await res.text()}`);
  }
  return (await res.json()) as T;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function main(): Promise<void> {
  ensureSidecarBuilt();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-workspace-bench-reset-'));
  scratch.push(tmp);
  const home = path.join(tmp, 'home');
  const state = path.join(tmp, 'state');
  const template = path.join(tmp, 'template');
  log(`making a template and a home of ${FILES} files, ${(BYTES / 1e6).toFixed(0)} MB each`);
  makeTree(template, 'course');
  fs.cpSync(template, home, { recursive: true });
  const config = path.join(tmp, 'config.json');
  fs.writeFileSync(
    config,
    JSON.stringify({
      home: { cap_bytes: 10 * BYTES },
      snapshots: { schedule_minutes: 0, keep_last: 0, keep_daily: 0, keep_weekly: 0 },
      reset: { template_dir: template, post_reset_hook: ['/bin/true'] }
    })
  );
  const port = await freePort();
  const sidecar = startProcess(
    'sidecar',
    process.execPath,
    [SIDECAR_BIN, 'serve', '--port', String(port), '--home', home, '--state-dir', state, '--token', TOKEN, '--config', config],
    benchEnv(tmp),
    REPO
  );
  await waitForHttp(sidecar, port, 'the sidecar');
  const base = `http://127.0.0.1:${port}/`;

  const rows: Array<{ wall: number } & ResetResponse['timings']> = [];
  const undos: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    work(home, round);
    const started = performance.now();
    const answer = await post<ResetResponse>(base, 'reset', { confirm: 'Reset data' });
    const wall = performance.now() - started;
    rows.push({ wall, ...answer.timings });
    log(`reset ${round + 1}: ${Math.round(wall)} ms (${JSON.stringify(answer.timings)})`);
    if (round === ROUNDS - 1) {
      const t = performance.now();
      await post<ResetUndoResponse>(base, 'reset/undo', { snapshot_id: answer.snapshot_id });
      undos.push(performance.now() - t);
    }
  }

  const columns = ['wall', 'snapshot_ms', 'prepare_ms', 'stop_ms', 'swap_ms', 'hook_ms', 'start_ms'] as const;
  const head = ['', 'total', 'snapshot', 'prepare', 'stop Jupyter', 'swap', 'hook', 'start Jupyter'];
  const line = (label: string, values: number[]): string => [label.padEnd(22), ...values.map(v => String(Math.round(v)).padStart(15))].join('');
  const out = [
    `Reset Data on a home of ${FILES} files, ${(BYTES / 1e6).toFixed(0)} MB (template the same size); milliseconds`,
    [''.padEnd(22), ...head.slice(1).map(h => h.padStart(15))].join(''),
    line('first (new repository)', columns.map(c => rows[0][c])),
    ...(rows.length > 1 ? [line(`median of ${rows.length - 1} later`, columns.map(c => median(rows.slice(1).map(r => r[c]))))] : []),
    `undo (whole restore of the pre-reset snapshot, after a snapshot of the reset home): ${Math.round(undos[0])} ms`
  ];
  process.stdout.write(out.join('\n') + '\n');
  await cleanup();
}

runBenchmark(main);
