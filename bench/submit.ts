/**
 * Submit Project benchmark: the time to submit a generated project through
 * the real sidecar (POST submit into an exchange folder), split by phase as
 * the receipt records it (conversion, zip + hash, pre-submit snapshot,
 * delivery), and the zip step's throughput.
 *
 * The project: BENCH_SUBMIT_FILES files (200) holding BENCH_SUBMIT_BYTES
 * bytes (50 MB): a notebook converted to HTML by nbconvert, three quarters
 * of the files text (CSV, Python: compresses well) and a quarter binary
 * (random: does not compress), the binary files holding most of the bytes,
 * as model weights and arrays do.
 *
 * Modes: the sidecar as its own notebook user (the zip is written in its own
 * process) and, when run as root, with `jupyter.user` set (the home is read
 * by a worker running as that user through setpriv). Each mode submits
 * BENCH_SUBMIT_RUNS times (3): the first snapshot stores the whole project,
 * later ones only what changed (nothing). For reference, `zip -r -6` and
 * `sha256sum` of the same files, one after the other.
 *
 * Run from the repository root after `npm run build`: `npm run bench:submit`.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { SubmissionReceipt } from '@jupyterlab-gpu-workspace/api';
import { cleanup, envNumber, freePort, lastOutput, log, REPO, request, scratch, SIDECAR_BIN, startProcess, stopProcess, TOKEN, waitForHttp } from './harness';

const FILES = envNumber('BENCH_SUBMIT_FILES', 200, 2);
const BYTES = envNumber('BENCH_SUBMIT_BYTES', 50e6, 1e5);
const RUNS = envNumber('BENCH_SUBMIT_RUNS', 3, 1);
const USER = 'gpuws-notebook';

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const NOTEBOOK = JSON.stringify({
  cells: [
    { cell_type: 'markdown', id: 'a', metadata: {}, source: ['# Course project\n', 'Results below.'] },
    { cell_type: 'code', id: 'b', metadata: {}, execution_count: 1, outputs: [{ output_type: 'stream', name: 'stdout', text: ['accuracy 0.93\n'] }], source: ['print("accuracy", 0.93)'] }
  ],
  metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' } },
  nbformat: 4,
  nbformat_minor: 5
});

/** The project: a notebook, text files in data/ and src/, binary files in models/. */
function generateProject(home: string): void {
  fs.writeFileSync(path.join(home, 'project.ipynb'), NOTEBOOK);
  const binaries = Math.max(1, Math.floor((FILES - 1) / 4));
  const texts = FILES - 1 - binaries;
  const textBytes = Math.floor(BYTES * 0.2);
  const binaryBytes = BYTES - textBytes;
  fs.mkdirSync(path.join(home, 'data'), { recursive: true });
  fs.mkdirSync(path.join(home, 'src'), { recursive: true });
  fs.mkdirSync(path.join(home, 'models'), { recursive: true });
  for (let i = 0; i < texts; i++) {
    const size = Math.floor(textBytes / texts);
    const rows: string[] = [];
    let n = 0;
    for (let r = 0; n < size; r++) {
      const row = `${r},${(r * 0.618) % 1},${(r * 7919) % 1000},sample-${r % 97}\n`;
      rows.push(row);
      n += row.length;
    }
    const name = i % 3 === 0 ? path.join('src', `module_${i}.py`) : path.join('data', `table_${i}.csv`);
    fs.writeFileSync(path.join(home, name), rows.join('').slice(0, size));
  }
  for (let i = 0; i < binaries; i++) {
    fs.writeFileSync(path.join(home, 'models', `weights_${i}.bin`), randomBytes(Math.floor(binaryBytes / binaries)));
  }
}

interface ModeResult {
  mode: string;
  runs: Array<{ total_ms: number; phases: SubmissionReceipt['phases_ms']; content_bytes: number; bytes: number }>;
}

async function runMode(mode: 'sidecar user' | 'notebook user'): Promise<ModeResult> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-workspace-bench-submit-'));
  scratch.push(root);
  fs.chmodSync(root, 0o755);
  const home = path.join(root, 'home');
  const exchange = path.join(root, 'exchange');
  fs.mkdirSync(home);
  fs.mkdirSync(exchange);
  generateProject(home);
  if (mode === 'notebook user') {
    execFileSync('chown', ['-R', `${USER}:`, home]);
  }
  const config = {
    ...(mode === 'notebook user' ? { jupyter: { user: USER } } : {}),
    snapshots: { schedule_minutes: 0 },
    home: { cap_bytes: 10e9 },
    submit: {
      enabled: true,
      required: ['project.ipynb', 'data', 'src', 'models'],
      conversions: [{ from: 'project.ipynb', to: 'html' }],
      max_bytes: BYTES * 2,
      destination: { type: 'directory', path: exchange }
    }
  };
  fs.writeFileSync(path.join(root, 'config.json'), JSON.stringify(config));
  const port = await freePort();
  const sidecar = startProcess(
    'sidecar',
    process.execPath,
    [SIDECAR_BIN, 'serve', '--port', String(port), '--home', home, '--state-dir', path.join(root, 'state'), '--token', TOKEN, '--config', path.join(root, 'config.json')],
    process.env,
    REPO
  );
  try {
    await waitForHttp(sidecar, port, 'the sidecar');
    const runs: ModeResult['runs'] = [];
    for (let i = 0; i < RUNS; i++) {
      const started = performance.now();
      const res = await request({ port }, '/gpu-workspace/api/v1/submit', { method: 'POST', body: '{}', timeoutMs: 600_000 });
      const total = performance.now() - started;
      if (res.status !== 200) {
        throw new Error(`POST submit answered ${res.status}: ${res.body.slice(0, 500)}`);
      }
      const receipt = JSON.parse(res.body) as SubmissionReceipt;
      runs.push({ total_ms: Math.round(total), phases: receipt.phases_ms, content_bytes: receipt.content_bytes, bytes: receipt.bytes });
      log(`${mode} run ${i + 1}: ${Math.round(total)} ms ${JSON.stringify(receipt.phases_ms)}`);
      fs.rmSync(path.join(exchange, receipt.archive_name));
    }
    return { mode, runs };
  } finally {
    await stopProcess(sidecar, 20_000);
  }
}

/** `zip -r -6` then `sha256sum` of the same files: what the one-pass zip + hash is compared with. */
function reference(): { zip_ms: number; sha_ms: number; bytes: number } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-workspace-bench-zip-'));
  scratch.push(root);
  const home = path.join(root, 'home');
  fs.mkdirSync(home);
  generateProject(home);
  const times = { zip: [] as number[], sha: [] as number[] };
  for (let i = 0; i < RUNS; i++) {
    const out = path.join(root, `ref-${i}.zip`);
    let t = performance.now();
    execFileSync('zip', ['-q', '-r', '-6', out, '.'], { cwd: home });
    times.zip.push(performance.now() - t);
    t = performance.now();
    execFileSync('sh', ['-c', 'find . -type f -print0 | xargs -0 sha256sum > /dev/null'], { cwd: home });
    times.sha.push(performance.now() - t);
  }
  return { zip_ms: Math.round(median(times.zip)), sha_ms: Math.round(median(times.sha)), bytes: Number(execFileSync('du', ['-sb', home], { encoding: 'utf8' }).split('\t')[0]) };
}

async function main(): Promise<void> {
  log(`project: ${FILES} files, ${(BYTES / 1e6).toFixed(0)} MB; ${RUNS} submissions per mode`);
  const modes: Array<'sidecar user' | 'notebook user'> = ['sidecar user'];
  if (process.getuid?.() === 0) {
    try {
      execFileSync('getent', ['passwd', USER], { stdio: 'ignore' });
    } catch {
      execFileSync('useradd', ['--no-create-home', '--shell', '/bin/bash', USER]);
    }
    modes.push('notebook user');
  }
  const results: ModeResult[] = [];
  for (const mode of modes) {
    results.push(await runMode(mode));
  }
  const ref = reference();
  const mb = (b: number): string => (b / 1e6).toFixed(1);
  const lines: string[] = [];
  lines.push(`Submit Project: ${FILES} files, ${mb(BYTES)} MB (median of ${RUNS}; snapshot: first / later)`);
  lines.push('mode            total ms  conversion  zip+hash  snapshot (1st/later)  delivery  zip MB/s  archive MB');
  for (const r of results) {
    const m = (f: (x: ModeResult['runs'][number]) => number): number => Math.round(median(r.runs.map(f)));
    const zipMs = m(x => x.phases.archive ?? 0);
    const later = r.runs.slice(1);
    lines.push(
      [
        r.mode.padEnd(14),
        String(m(x => x.total_ms)).padStart(9),
        String(m(x => x.phases.conversion ?? 0)).padStart(11),
        String(zipMs).padStart(9),
        `${r.runs[0].phases.snapshot}/${later.length ? Math.round(median(later.map(x => x.phases.snapshot ?? 0))) : '-'}`.padStart(21),
        String(m(x => x.phases.delivery ?? 0)).padStart(9),
        (r.runs[0].content_bytes / 1e6 / (zipMs / 1000)).toFixed(0).padStart(9),
        mb(r.runs[0].bytes).padStart(11)
      ].join(' ')
    );
  }
  lines.push(`reference: zip -r -6 ${ref.zip_ms} ms (${(ref.bytes / 1e6 / (ref.zip_ms / 1000)).toFixed(0)} MB/s), then sha256sum ${ref.sha_ms} ms: ${ref.zip_ms + ref.sha_ms} ms in all`);
  process.stdout.write(lines.join('\n') + '\n');
  fs.mkdirSync(path.join(REPO, 'bench', 'results'), { recursive: true });
  fs.writeFileSync(path.join(REPO, 'bench', 'results', 'submit-latest.json'), JSON.stringify({ files: FILES, bytes: BYTES, results, reference: ref }, null, 2));
}

main()
  .catch(err => {
    process.stderr.write(`${(err as Error).stack ?? err}\n${lastOutput()}\n`);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
