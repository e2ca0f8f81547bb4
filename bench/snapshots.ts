/**
 * Home snapshot benchmark, on a generated home (about 3 GB in 50,000 files by
 * default, random so nothing deduplicates by accident):
 *
 *   snapshot time   the sidecar's SnapshotService.create() (size scan, cap
 *                   check, restic backup, summary, listing) against bare
 *                   `restic backup` with the same flags into a repository of
 *                   its own, on the same tree: the first snapshot, an
 *                   unchanged re-snapshot and one with 1 % of the files
 *                   rewritten. Target ratio ≤ 1.10.
 *   size scan       scanHome() (du -ab, plus the largest entries) against
 *                   `du -sb`, median of 5 warm runs. Target ratio ≤ 1.5.
 *   re-read trap    after the home is restored from its snapshot (new inodes
 *                   and ctimes everywhere), a re-snapshot with the sidecar's
 *                   flags against a re-snapshot of the untouched tree; and
 *                   bare restic without --ignore-inode/--ignore-ctime, which
 *                   reads everything again.
 *
 * Run from the repository root: `npm run bench:snapshots`. Knobs
 * (environment): BENCH_BYTES total size (3e9), BENCH_FILES file count
 * (50000), BENCH_DIR where to build the tree (the OS temp dir; it needs
 * about 3 × BENCH_BYTES free).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createLogger } from '../sidecar/src/log';
import { homeTotal, scanHome } from '../sidecar/src/snapshots/homeScan';
import { repoLayout } from '../sidecar/src/snapshots/repository';
import { CHANGE_DETECTION_FLAGS, SNAPSHOT_HOST, SnapshotPolicy, SnapshotService } from '../sidecar/src/snapshots/service';

const BYTES = Number(process.env.BENCH_BYTES ?? 3e9);
const FILES = Number(process.env.BENCH_FILES ?? 50_000);
const EXCLUDE = ['.cache'];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** 50,000 files in 500 folders of 100; sizes spread so a few are large, as in a real home. */
function generateHome(home: string): string[] {
  const files: string[] = [];
  const weights = Array.from({ length: FILES }, (_, i) => 1 + ((i * 7919) % 97) + (i % 1000 === 0 ? 3000 : 0));
  const total = weights.reduce((a, b) => a + b, 0);
  const block = randomBytes(1 << 20);
  for (let i = 0; i < FILES; i++) {
    const dir = path.join(home, `project-${Math.floor(i / 5000)}`, `run-${Math.floor(i / 100) % 50}`);
    if (i % 100 === 0) {
      fs.mkdirSync(dir, { recursive: true });
    }
    const size = Math.max(1, Math.floor((weights[i] / total) * BYTES));
    const file = path.join(dir, `file-${i}.bin`);
    // Random bytes from a fresh 16-byte head plus a rotating slice of one random block: unique content, cheap to make.
    const fd = fs.openSync(file, 'w');
    let written = 0;
    let offset = (i * 4099) % block.length;
    fs.writeSync(fd, randomBytes(16));
    written += 16;
    while (written < size) {
      const n = Math.min(size - written, block.length - offset);
      fs.writeSync(fd, block, offset, n);
      written += n;
      offset = (offset + n + 4096) % block.length;
      if (written < size) {
        fs.writeSync(fd, randomBytes(16));
        written += 16;
      }
    }
    fs.closeSync(fd);
    files.push(file);
  }
  return files;
}

function timeMs(work: () => void): number {
  const t = performance.now();
  work();
  return performance.now() - t;
}

async function timeAsync(work: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await work();
  return performance.now() - t;
}

/** What restic's backup summary says was read again: files it did not find unchanged. */
interface Reread {
  files_changed: number;
  files_unmodified: number;
}

let lastBare: Reread = { files_changed: 0, files_unmodified: 0 };

function bareBackup(repoDir: string, passwordFile: string, cacheDir: string, home: string, flags: string[]): number {
  let out = '';
  const ms = timeMs(() => {
    out = execFileSync(
      'restic',
      ['--json', 'backup', '--host', SNAPSHOT_HOST, '--tag', 'manual', ...flags, '--one-file-system', ...EXCLUDE.flatMap(p => ['--exclude', p]), home],
      {
        env: { ...process.env, RESTIC_REPOSITORY: repoDir, RESTIC_PASSWORD_FILE: passwordFile, RESTIC_CACHE_DIR: cacheDir, HOME: cacheDir },
        stdio: ['ignore', 'pipe', 'inherit'],
        encoding: 'utf8',
        maxBuffer: 1 << 28
      }
    );
  });
  const summary = out
    .split('\n')
    .filter(l => l.includes('"summary"'))
    .map(l => JSON.parse(l) as Reread)[0];
  lastBare = summary ?? lastBare;
  return ms;
}

function row(label: string, sidecarMs: number, bareMs: number): string {
  return `| ${label} | ${(sidecarMs / 1000).toFixed(2)} s | ${(bareMs / 1000).toFixed(2)} s | ${(sidecarMs / bareMs).toFixed(3)} |`;
}

async function main(): Promise<void> {
  const root = fs.mkdtempSync(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'gpu-workspace-bench-snap-'));
  try {
    const home = path.join(root, 'home');
    const stateDir = path.join(root, 'state');
    fs.mkdirSync(path.join(stateDir, 'secrets'), { recursive: true, mode: 0o700 });
    process.stderr.write(`generating ${FILES} files, ${(BYTES / 1e9).toFixed(2)} GB in ${home}…\n`);
    const files = generateHome(home);
    const policy: SnapshotPolicy = {
      cap_bytes: BYTES * 2,
      exclude: EXCLUDE,
      restic: 'restic',
      schedule_minutes: 0,
      keep_last: 0,
      keep_daily: 0,
      keep_weekly: 0,
      restore_empty_home: false
    };
    const service = new SnapshotService({ home, stateDir, policy, runAs: null, log: createLogger('error') });
    await service.init();
    if (service.reason) {
      throw new Error(service.reason);
    }
    // The bare baseline: its own repository, same password, same flags.
    const layout = repoLayout(stateDir);
    const bareRepo = path.join(root, 'bare-repo');
    const bareCache = path.join(root, 'bare-cache');
    execFileSync('restic', ['init', '-q'], { env: { ...process.env, RESTIC_REPOSITORY: bareRepo, RESTIC_PASSWORD_FILE: layout.passwordFile, RESTIC_CACHE_DIR: bareCache } });
    const bare = (flags = CHANGE_DETECTION_FLAGS): number => bareBackup(bareRepo, layout.passwordFile, bareCache, home, flags);
    const sidecar = (): Promise<number> => timeAsync(() => service.create('manual'));

    const lines: string[] = ['| snapshot | sidecar | bare restic | ratio |', '|---|---|---|---|'];
    // Page cache warm for both: every file read once first. Where one must go first, the sidecar
    // does (the second reader of changed files finds them cached), so the ratio errs against it.
    execFileSync('sh', ['-c', 'find "$0" -type f -exec cat {} + > /dev/null', home]);
    const firstSidecar = await sidecar();
    const firstBare = bare();
    lines.push(row('first', firstSidecar, firstBare));
    const unchanged: Array<[number, number]> = [];
    for (let i = 0; i < 5; i++) {
      // Alternating who goes first, so drift in the machine's load hits both alike.
      if (i % 2) {
        const b = bare();
        unchanged.push([await sidecar(), b]);
      } else {
        const s = await sidecar();
        unchanged.push([s, bare()]);
      }
    }
    const unchangedSidecar = median(unchanged.map(u => u[0]));
    lines.push(row('unchanged (median of 5)', unchangedSidecar, median(unchanged.map(u => u[1]))));
    // 1 % of the files rewritten with new content of the same size.
    for (let i = 0; i < files.length; i += 100) {
      const size = fs.statSync(files[i]).size;
      fs.writeFileSync(files[i], randomBytes(size));
    }
    const changedSidecar = await sidecar();
    const changedBare = bare();
    lines.push(row('1 % of files changed', changedSidecar, changedBare));

    const totals: number[] = [];
    const scans: number[] = [];
    const dus: number[] = [];
    for (let i = 0; i < 7; i++) {
      dus.push(timeMs(() => execFileSync('du', ['-sb', ...EXCLUDE.map(p => `--exclude=${p}`), home], { stdio: 'ignore' })));
      totals.push(await timeAsync(() => homeTotal(home, EXCLUDE)));
      scans.push(await timeAsync(() => scanHome(home, EXCLUDE)));
    }
    const du = median(dus);
    const scanLine = [
      `size scan before each snapshot (homeTotal): ${median(totals).toFixed(0)} ms, du -sb ${du.toFixed(0)} ms, ratio ${(median(totals) / du).toFixed(3)} (target ≤ 1.5)`,
      `full scan with the largest entries (scanHome, for GET home/usage and over-cap refusals): ${median(scans).toFixed(0)} ms, ratio ${(median(scans) / du).toFixed(3)}`
    ].join('\n');

    // The re-read trap: restore the home from its snapshot (new inodes and ctimes), then snapshot again.
    const [latest] = await service.list();
    const staging = path.join(root, 'restored');
    execFileSync('restic', ['restore', latest.id, '--target', staging], {
      env: { ...process.env, RESTIC_REPOSITORY: layout.repository, RESTIC_PASSWORD_FILE: layout.passwordFile, RESTIC_CACHE_DIR: layout.cacheDir, HOME: layout.cacheDir },
      stdio: 'ignore'
    });
    fs.renameSync(home, path.join(root, 'home-before-restore'));
    fs.renameSync(path.join(staging, home), home);
    fs.rmSync(path.join(root, 'home-before-restore'), { recursive: true, force: true });
    // The bare repository's parent is the same tree; its next backup sees the restored files too.
    let afterRestoreInfo: { files_changed: number | null } = { files_changed: null };
    const afterRestoreSidecar = await timeAsync(async () => {
      afterRestoreInfo = await service.create('manual');
    });
    const afterRestoreBareNoFlags = bare([]);
    const trap = [
      `re-snapshot after a restore (sidecar, --ignore-inode --ignore-ctime): ${(afterRestoreSidecar / 1000).toFixed(2)} s, ${afterRestoreInfo.files_changed} files read again`,
      `re-snapshot of the untouched tree (sidecar, above):                  ${(unchangedSidecar / 1000).toFixed(2)} s  → ratio ${(afterRestoreSidecar / unchangedSidecar).toFixed(3)}`,
      `bare restic without those flags after the restore:                   ${(afterRestoreBareNoFlags / 1000).toFixed(2)} s, ${lastBare.files_changed} of ${lastBare.files_changed + lastBare.files_unmodified} files read again`
    ];
    service.stop();
    process.stdout.write(
      [
        `Home snapshots: ${FILES} files, ${(BYTES / 1e9).toFixed(2)} GB, restic ${execFileSync('restic', ['version'], { encoding: 'utf8' }).split(' ')[1]}, ${os.cpus().length} CPUs`,
        '',
        ...lines,
        '',
        scanLine,
        '',
        ...trap,
        ''
      ].join('\n')
    );
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch(err => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
