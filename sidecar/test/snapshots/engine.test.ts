/**
 * The snapshot engine against real restic: round trips keep content, modes,
 * symlinks and empty folders; restores never overwrite and never leave the
 * home; the cap refuses with the right offenders; operations run one at a
 * time; a missing or wrong password is an error, never a fresh repository.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { lookupUser } from '../../src/jupyter/notebookUser';
import { createLogger } from '../../src/log';
import { scanHome } from '../../src/snapshots/homeScan';
import { repoLayout } from '../../src/snapshots/repository';
import { runRestic } from '../../src/snapshots/restic';
import { OverCapError, SnapshotPolicy, SnapshotService } from '../../src/snapshots/service';
import { assertSnapshotsWork, testPolicy } from '../support/snapshots';
import { makeTempDirs, TempDirs } from '../support/sidecar';

const quiet = createLogger('error', 'test', () => undefined);

function policy(over: Partial<SnapshotPolicy> = {}): SnapshotPolicy {
  return testPolicy({ restore_empty_home: true, ...over });
}

async function open(dirs: TempDirs, over: Partial<SnapshotPolicy> = {}): Promise<SnapshotService> {
  const s = new SnapshotService({ home: dirs.home, stateDir: dirs.stateDir, policy: policy(over), runAs: null, log: quiet });
  await s.init();
  assert.equal(s.reason, null);
  return s;
}

function write(home: string, rel: string, content: string | Buffer, mode?: number): void {
  const abs = path.join(home, rel);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  fs.writeFileSync(abs, content);
  if (mode !== undefined) {
    fs.chmodSync(abs, mode);
  }
}

describe('snapshot engine', () => {
  let dirs: TempDirs;
  let snaps: SnapshotService;
  /** A snapshot of the home as the test set it up. */
  let original: string;

  before(async () => {
    dirs = makeTempDirs();
    fs.mkdirSync(dirs.stateDir, { recursive: true });
    fs.mkdirSync(path.join(dirs.stateDir, 'secrets'), { recursive: true, mode: 0o700 });
    write(dirs.home, 'notebooks/analysis.ipynb', '{"cells": []}');
    write(dirs.home, 'scripts/run.sh', '#!/bin/sh\necho hi\n', 0o750);
    write(dirs.home, 'data/a[1].csv', 'x,y\n1,2\n', 0o640);
    write(dirs.home, '.cache/pip/wheel.bin', Buffer.alloc(4096));
    fs.mkdirSync(path.join(dirs.home, 'empty/inner'), { recursive: true });
    fs.symlinkSync('/etc/hostname', path.join(dirs.home, 'outside-link'));
    fs.symlinkSync('notebooks/analysis.ipynb', path.join(dirs.home, 'inside-link'));
    snaps = await open(dirs);
  });

  after(() => {
    snaps.stop();
    dirs.remove();
  });

  test('the repository, its cache and its password live in the state directory, the password 0600', () => {
    const repo = repoLayout(dirs.stateDir);
    assert.ok(fs.existsSync(path.join(repo.repository, 'config')));
    assert.equal(fs.statSync(repo.passwordFile).mode & 0o777, 0o600);
    assert.ok(fs.existsSync(repo.cacheDir));
    assert.deepEqual(fs.readdirSync(dirs.home).sort(), ['.cache', 'data', 'empty', 'inside-link', 'notebooks', 'outside-link', 'scripts']);
  });

  test('a snapshot is listed newest first with its trigger, size and changes', async () => {
    const first = await snaps.create('manual');
    write(dirs.home, 'notebooks/new.ipynb', '{}');
    const second = await snaps.create('schedule');
    original = second.id;
    const list = await snaps.list();
    assert.deepEqual(
      list.map(s => [s.id, s.trigger]),
      [
        [second.id, 'schedule'],
        [first.id, 'manual']
      ]
    );
    assert.equal(list[0].files_new, 1);
    assert.equal(list[0].changes, 1);
    assert.ok((list[1].size_bytes ?? 0) > 20);
    fs.rmSync(path.join(dirs.home, 'notebooks/new.ipynb'));
  });

  test('excluded caches are neither snapshotted nor counted', async () => {
    const [latest] = await snaps.list();
    const names = (await snaps.files(latest.id, '')).map(e => e.name);
    assert.ok(!names.includes('.cache'), names.join(','));
    const scan = await snaps.scan();
    const all = await scanHome(dirs.home, []);
    assert.ok(all.used_bytes - scan.used_bytes >= 4096, `${all.used_bytes} with the cache, ${scan.used_bytes} without`);
  });

  test('a whole-home restore brings back content, modes, symlinks as links and empty folders', async () => {
    fs.rmSync(path.join(dirs.home, 'scripts'), { recursive: true });
    fs.rmSync(path.join(dirs.home, 'empty'), { recursive: true });
    fs.rmSync(path.join(dirs.home, 'outside-link'));
    write(dirs.home, 'notebooks/analysis.ipynb', 'changed');
    const { undo_snapshot } = await snaps.restoreHome(original);
    assert.equal(fs.readFileSync(path.join(dirs.home, 'scripts/run.sh'), 'utf8'), '#!/bin/sh\necho hi\n');
    assert.equal(fs.statSync(path.join(dirs.home, 'scripts/run.sh')).mode & 0o777, 0o750);
    assert.equal(fs.statSync(path.join(dirs.home, 'data/a[1].csv')).mode & 0o777, 0o640);
    assert.equal(fs.readFileSync(path.join(dirs.home, 'notebooks/analysis.ipynb'), 'utf8'), '{"cells": []}');
    assert.ok(fs.statSync(path.join(dirs.home, 'empty/inner')).isDirectory());
    assert.equal(fs.readlinkSync(path.join(dirs.home, 'outside-link')), '/etc/hostname');
    assert.equal(fs.readlinkSync(path.join(dirs.home, 'inside-link')), 'notebooks/analysis.ipynb');
    // The cache, never snapshotted, is left where it was.
    assert.ok(fs.existsSync(path.join(dirs.home, '.cache/pip/wheel.bin')));
    // The present was snapshotted first, so the restore can be undone.
    const undo = (await snaps.list()).find(s => s.id === undo_snapshot);
    assert.ok(undo);
    const entries = await snaps.files(undo_snapshot, 'notebooks');
    assert.deepEqual(
      entries.map(e => [e.name, e.size]),
      [['analysis.ipynb', 'changed'.length]]
    );
  });

  test('a file comes back to its own path when that path is free', async () => {
    const latest = { id: original };
    fs.rmSync(path.join(dirs.home, 'data'), { recursive: true });
    const answer = await snaps.restore(latest.id, 'data/a[1].csv');
    assert.deepEqual(answer, { restored_to: 'data/a[1].csv' });
    assert.equal(fs.readFileSync(path.join(dirs.home, 'data/a[1].csv'), 'utf8'), 'x,y\n1,2\n');
  });

  test('a folder whose path is taken comes back beside it, and the existing one is left alone', async () => {
    const latest = { id: original };
    write(dirs.home, 'scripts/run.sh', 'mine now');
    const answer = await snaps.restore(latest.id, 'scripts');
    assert.match(answer.restored_to, /^scripts \(restored \d{4}-\d\d-\d\d \d{4}\)$/);
    assert.equal(fs.readFileSync(path.join(dirs.home, 'scripts/run.sh'), 'utf8'), 'mine now');
    assert.equal(fs.readFileSync(path.join(dirs.home, answer.restored_to, 'run.sh'), 'utf8'), '#!/bin/sh\necho hi\n');
    const again = await snaps.restore(latest.id, 'scripts');
    assert.notEqual(again.restored_to, answer.restored_to);
  });

  test('restores through "..", absolute paths or symlinked parents are refused and write nothing outside', async () => {
    const latest = { id: original };
    const outside = path.join(dirs.root, 'outside');
    fs.mkdirSync(outside);
    fs.symlinkSync(outside, path.join(dirs.home, 'escape'));
    for (const bad of ['../state', 'notebooks/../../x', '/etc/passwd', 'escape/notebooks', '']) {
      await assert.rejects(snaps.restore(latest.id, bad), (err: { status?: number }) => err.status === 400, bad);
    }
    assert.deepEqual(fs.readdirSync(outside), []);
    fs.rmSync(path.join(dirs.home, 'escape'));
  });

  test('unknown snapshot ids are 404', async () => {
    await assert.rejects(snaps.restore('deadbeef', 'data'), (err: { status?: number }) => err.status === 404);
    await assert.rejects(snaps.files('nothex!', ''), (err: { status?: number }) => err.status === 404);
  });

  test('two snapshots asked for at once run one after the other', async () => {
    const running: number[] = [];
    const poll = setInterval(() => running.push(snaps.activityNow()?.waiting ?? -1), 5);
    const [a, b] = await Promise.all([snaps.create('manual'), snaps.create('gpu-switch')]);
    clearInterval(poll);
    assert.notEqual(a.id, b.id);
    assert.ok(Date.parse(b.time) > Date.parse(a.time));
    assert.ok(running.includes(1), 'the second waited behind the first');
    const check = await snaps.check();
    assert.ok(check.ok, check.output);
  });

  test('over the cap, a snapshot is refused and the largest files and folders are named', async () => {
    write(dirs.home, 'big/model.bin', Buffer.alloc(300_000));
    write(dirs.home, 'data/medium.bin', Buffer.alloc(100_000));
    const small = await open(dirs, { cap_bytes: 200_000 });
    try {
      const before = (await small.list()).length;
      const err = await small.create('manual').then(
        () => assert.fail('the snapshot was taken'),
        (e: unknown) => e
      );
      assert.ok(err instanceof OverCapError);
      assert.equal(err.status, 409);
      const largest = err.details.largest as Array<{ path: string }>;
      assert.deepEqual(
        largest.slice(0, 4).map(l => l.path),
        ['big', 'big/model.bin', 'data', 'data/medium.bin']
      );
      assert.match(err.message, /big/);
      assert.equal((await small.list()).length, before);
      const outcome = await small.snapshotFor('idle-stop');
      assert.equal(outcome.taken, false);
    } finally {
      small.stop();
      fs.rmSync(path.join(dirs.home, 'big'), { recursive: true });
      fs.rmSync(path.join(dirs.home, 'data/medium.bin'));
    }
  });

  test('after restic is killed mid-snapshot, the next snapshot succeeds and the repository checks clean', async () => {
    fs.mkdirSync(path.join(dirs.home, 'bulk'));
    execFileSync('dd', ['if=/dev/urandom', `of=${path.join(dirs.home, 'bulk/random.bin')}`, 'bs=1M', 'count=200', 'status=none']);
    const pending = snaps.create('manual');
    const killed = await killResticWhenRunning();
    assert.ok(killed, 'restic was running');
    await assert.rejects(pending);
    const reopened = await open(dirs);
    try {
      await assertSnapshotsWork(reopened);
    } finally {
      reopened.stop();
      fs.rmSync(path.join(dirs.home, 'bulk'), { recursive: true });
    }
  });

  test('the latest snapshot comes back at start when the home is empty', async () => {
    const [latest] = await snaps.list();
    const files = (await snaps.files(latest.id, '')).map(e => e.name).sort();
    for (const name of fs.readdirSync(dirs.home)) {
      fs.rmSync(path.join(dirs.home, name), { recursive: true });
    }
    const restarted = await open(dirs);
    restarted.stop();
    assert.deepEqual(fs.readdirSync(dirs.home).sort(), files);
  });
});

/** SIGKILLs the restic backup this process runs, once it has written for a moment; false if none showed up. */
async function killResticWhenRunning(): Promise<boolean> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    let pids: string[] = [];
    try {
      // setpriv execs restic in its own place, so the child is restic itself.
      pids = execFileSync('pgrep', ['-x', '-P', String(process.pid), 'restic'], { encoding: 'utf8' }).trim().split('\n');
    } catch {
      // pgrep exits 1 when there is none yet.
    }
    for (const pid of pids.filter(Boolean)) {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('backup')) {
        // Let it write some packs first, so the kill leaves a lock and partial data behind.
        await new Promise(r => setTimeout(r, 300));
        process.kill(Number(pid), 'SIGKILL');
        return true;
      }
    }
    await new Promise(r => setTimeout(r, 20));
  }
  return false;
}

describe('the repository password', () => {
  let dirs: TempDirs;

  before(async () => {
    dirs = makeTempDirs();
    fs.mkdirSync(path.join(dirs.stateDir, 'secrets'), { recursive: true, mode: 0o700 });
    write(dirs.home, 'a.txt', 'a');
    const s = await open(dirs);
    await s.create('manual');
    s.stop();
  });

  after(() => dirs.remove());

  test('missing: snapshots are unavailable with a clear reason, and the repository is not re-initialised', async () => {
    const repo = repoLayout(dirs.stateDir);
    const config = fs.readFileSync(path.join(repo.repository, 'config'));
    const saved = fs.readFileSync(repo.passwordFile);
    fs.rmSync(repo.passwordFile);
    const s = new SnapshotService({ home: dirs.home, stateDir: dirs.stateDir, policy: policy(), runAs: null, log: quiet });
    await s.init();
    assert.match(s.reason ?? '', /password file .* is missing.*never re-initialised/);
    await assert.rejects(s.create('manual'), (err: { status?: number; code?: string }) => err.status === 503 && err.code === 'snapshots_unavailable');
    assert.ok(!fs.existsSync(repo.passwordFile), 'no new password was made');
    assert.deepEqual(fs.readFileSync(path.join(repo.repository, 'config')), config);
    fs.writeFileSync(repo.passwordFile, saved, { mode: 0o600 });
  });

  test('wrong: snapshots are unavailable, and the snapshots are still there with the right one', async () => {
    const repo = repoLayout(dirs.stateDir);
    const saved = fs.readFileSync(repo.passwordFile);
    fs.writeFileSync(repo.passwordFile, 'not the password\n');
    const s = new SnapshotService({ home: dirs.home, stateDir: dirs.stateDir, policy: policy(), runAs: null, log: quiet });
    await s.init();
    assert.match(s.reason ?? '', /does not open the snapshot repository/);
    fs.writeFileSync(repo.passwordFile, saved);
    const { messages } = await runRestic(repo, ['snapshots'], { keepMessages: true });
    assert.equal((messages[0] as unknown[]).length, 1);
  });
});

describe('restored files belong to the notebook user', { skip: process.getuid?.() === 0 ? false : 'needs root to create a notebook user (CI runs as root)' }, () => {
  const USER = 'gpuws-notebook';
  let dirs: TempDirs;

  before(() => {
    try {
      execFileSync('getent', ['passwd', USER], { stdio: 'ignore' });
    } catch {
      execFileSync('useradd', ['--no-create-home', '--shell', '/bin/bash', USER]);
    }
    dirs = makeTempDirs();
    // As in production: the user can reach its home and owns it; the state directory is root's alone.
    fs.chmodSync(dirs.root, 0o755);
    const user = lookupUser(USER);
    fs.chownSync(dirs.home, user.uid, user.gid);
    fs.mkdirSync(path.join(dirs.stateDir, 'secrets'), { recursive: true, mode: 0o700 });
  });

  after(() => dirs.remove());

  test('whatever owner the snapshot recorded, a restored folder and its files are the notebook user\'s', async () => {
    const user = lookupUser(USER);
    // Written by root, as a file copied in by an operator would be.
    write(dirs.home, 'results/run1/metrics.json', '{"loss": 0.1}');
    const s = new SnapshotService({ home: dirs.home, stateDir: dirs.stateDir, policy: policy(), runAs: { user, deviceGid: null }, log: quiet });
    await s.init();
    try {
      const snap = await s.create('manual');
      fs.rmSync(path.join(dirs.home, 'results'), { recursive: true });
      const { restored_to } = await s.restore(snap.id, 'results/run1/metrics.json');
      assert.equal(restored_to, 'results/run1/metrics.json');
      for (const rel of ['results', 'results/run1', 'results/run1/metrics.json']) {
        const st = fs.lstatSync(path.join(dirs.home, rel));
        assert.deepEqual([st.uid, st.gid], [user.uid, user.gid], rel);
      }
    } finally {
      s.stop();
    }
  });
});

describe('other filesystems', { skip: process.getuid?.() === 0 ? false : 'needs root to mount a small tmpfs' }, () => {
  let dirs: TempDirs;
  const mounts: string[] = [];

  function tmpfs(dir: string, size: string): void {
    fs.mkdirSync(dir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir]);
    mounts.push(dir);
  }

  before(() => {
    dirs = makeTempDirs();
  });

  after(() => {
    for (const dir of mounts.reverse()) {
      execFileSync('umount', [dir]);
    }
    dirs.remove();
  });

  test('a full disk under the repository fails the snapshot with a message saying so, and a later one succeeds', async () => {
    const stateDir = path.join(dirs.root, 'small-state');
    tmpfs(stateDir, '12m');
    fs.mkdirSync(path.join(stateDir, 'secrets'), { mode: 0o700 });
    const home = path.join(dirs.root, 'full-home');
    fs.mkdirSync(home);
    const s = new SnapshotService({ home, stateDir, policy: policy(), runAs: null, log: quiet });
    await s.init();
    try {
      execFileSync('dd', ['if=/dev/urandom', `of=${path.join(home, 'big.bin')}`, 'bs=1M', 'count=20', 'status=none']);
      await assert.rejects(s.create('manual'), (err: { status?: number; code?: string; message?: string }) => {
        assert.equal(err.code, 'snapshots_unavailable');
        assert.match(err.message ?? '', /disk holding the snapshot repository is full/);
        return true;
      });
      fs.rmSync(path.join(home, 'big.bin'));
      fs.writeFileSync(path.join(home, 'small.txt'), 'fits');
      await assertSnapshotsWork(s);
    } finally {
      s.stop();
    }
  });

  test('a home on another filesystem than the state directory is restored by copying, file and whole home', async () => {
    const home = path.join(dirs.root, 'mounted-home');
    tmpfs(home, '8m');
    write(home, 'work/notes.txt', 'notes');
    const stateDir = path.join(dirs.root, 'state-b');
    fs.mkdirSync(path.join(stateDir, 'secrets'), { recursive: true, mode: 0o700 });
    const s = new SnapshotService({ home, stateDir, policy: policy(), runAs: null, log: quiet });
    await s.init();
    try {
      const snap = await s.create('manual');
      fs.rmSync(path.join(home, 'work'), { recursive: true });
      assert.deepEqual(await s.restore(snap.id, 'work'), { restored_to: 'work' });
      assert.equal(fs.readFileSync(path.join(home, 'work/notes.txt'), 'utf8'), 'notes');
      write(home, 'work/notes.txt', 'changed');
      write(home, 'extra.txt', 'extra');
      await s.restoreHome(snap.id);
      assert.equal(fs.readFileSync(path.join(home, 'work/notes.txt'), 'utf8'), 'notes');
      assert.ok(!fs.existsSync(path.join(home, 'extra.txt')));
    } finally {
      s.stop();
    }
  });
});

describe('schedule and retention', () => {
  let dirs: TempDirs;

  before(() => {
    dirs = makeTempDirs();
    fs.mkdirSync(path.join(dirs.stateDir, 'secrets'), { recursive: true, mode: 0o700 });
    write(dirs.home, 'a.txt', 'a');
  });

  after(() => dirs.remove());

  test('snapshots come on schedule, and beyond keep_last the oldest are forgotten and pruned', async () => {
    // A schedule of 0.02 minutes: a snapshot every 1.2 s.
    const s = await open(dirs, { schedule_minutes: 0.02, keep_last: 2 });
    try {
      s.startSchedule();
      const seen = new Set<string>();
      const deadline = Date.now() + 60_000;
      while (seen.size < 3 && Date.now() < deadline) {
        (await s.list()).forEach(l => seen.add(l.id));
        await new Promise(r => setTimeout(r, 200));
      }
      s.stopSchedule();
      assert.ok(seen.size >= 3, `saw ${seen.size} scheduled snapshots`);
      // Queued behind any scheduled one still running; retention runs after it.
      const last = await s.create('manual');
      const list = await s.list();
      assert.deepEqual(
        list.map(l => l.trigger),
        ['manual', 'schedule']
      );
      assert.equal(list[0].id, last.id);
      const summaries = JSON.parse(fs.readFileSync(path.join(repoLayout(dirs.stateDir).root, 'summaries.json'), 'utf8')) as object;
      assert.deepEqual(Object.keys(summaries).sort(), list.map(l => l.id).sort(), 'the summaries of forgotten snapshots are dropped');
      const check = await s.check();
      assert.ok(check.ok, check.output);
    } finally {
      s.stop();
    }
  });
});
