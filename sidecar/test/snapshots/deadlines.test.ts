/**
 * A restic that hangs never blocks the workspace: every command has a
 * deadline, a backup whose progress stops counts as hung, and a full disk is
 * seen at once rather than after restic's retries. Each time, restic is
 * stopped (SIGINT, then SIGKILL), its lock cleared, the caller told what
 * happened, and the next operation in the queue runs; the next snapshot
 * succeeds and `restic check` is clean. A stand-in (fixtures/bin/
 * restic-standin) plays the misbehaving restic on `backup`, holding a real
 * lock; the full-disk case uses a real, small tmpfs.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '../../src/log';
import { repoLayout } from '../../src/snapshots/repository';
import { SnapshotPolicy, SnapshotService } from '../../src/snapshots/service';
import { assertSnapshotsWork, testPolicy } from '../support/snapshots';
import { makeTempDirs, SIDECAR_DIR, TempDirs } from '../support/sidecar';

const STANDIN = path.join(SIDECAR_DIR, 'test', 'fixtures', 'bin', 'restic-standin');
const quiet = createLogger('error', 'test', () => undefined);

function policy(over: Partial<SnapshotPolicy> = {}): SnapshotPolicy {
  return testPolicy({ restic: STANDIN, stop_grace_seconds: 1, ...over });
}

interface Failure {
  status?: number;
  code?: string;
  message: string;
}

async function failureOf(p: Promise<unknown>): Promise<Failure> {
  return await p.then(
    () => assert.fail('the snapshot was taken'),
    (err: unknown) => err as Failure
  );
}

/** Processes still running in the snapshot engine's folder (restic, the stand-in and its helpers): none may outlive a stop. */
function leftIn(workDir: string): string[] {
  const left: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter(n => /^\d+$/.test(n))) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/cwd`) === workDir) {
        left.push(`${pid} ${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ')}`);
      }
    } catch {
      // Gone, or not ours to look at.
    }
  }
  return left;
}

describe('restic deadlines', () => {
  let dirs: TempDirs;
  let modeFile: string;

  before(() => {
    dirs = makeTempDirs();
    fs.mkdirSync(path.join(dirs.stateDir, 'secrets'), { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(dirs.home, 'notes.txt'), 'notes\n');
    modeFile = path.join(dirs.root, 'standin-mode');
    process.env.STANDIN_RESTIC_MODE = modeFile;
  });

  after(() => {
    delete process.env.STANDIN_RESTIC_MODE;
    dirs.remove();
  });

  async function open(over: Partial<SnapshotPolicy>): Promise<SnapshotService> {
    fs.rmSync(modeFile, { force: true });
    const s = new SnapshotService({ home: dirs.home, stateDir: dirs.stateDir, policy: policy(over), runAs: null, log: quiet });
    await s.init();
    assert.equal(s.reason, null);
    return s;
  }

  /** After a stopped restic: the next snapshot is taken and the repository checks clean. */
  async function recovers(s: SnapshotService): Promise<void> {
    fs.rmSync(modeFile, { force: true });
    fs.writeFileSync(path.join(dirs.home, 'notes.txt'), `notes ${Date.now()}\n`);
    await assertSnapshotsWork(s);
  }

  test('a restic that never ends is stopped at its deadline, the caller is told what timed out, and the queue moves on', async () => {
    const s = await open({ command_timeout_seconds: { backup: 3 }, stall_timeout_seconds: 60 });
    try {
      fs.writeFileSync(modeFile, 'endless');
      const started = Date.now();
      const hung = failureOf(s.create('manual'));
      // Queued behind the hung snapshot; restic check takes the repository's exclusive lock, so it also shows the lock was cleared.
      const checked = s.check();
      const err = await hung;
      assert.equal(err.status, 503);
      assert.equal(err.code, 'snapshots_unavailable');
      assert.match(err.message, /restic backup did not finish within its 3 s limit.*snapshots\.command_timeout_seconds\.backup/);
      assert.ok(Date.now() - started < 20_000, `stopped after ${Date.now() - started} ms`);
      const check = await checked;
      assert.ok(check.ok, check.output);
      assert.deepEqual(leftIn(repoLayout(dirs.stateDir).root), []);
      await recovers(s);
    } finally {
      s.stop();
    }
  });

  test('a restic that prints nothing is stopped as hung once its progress has not moved for stall_timeout_seconds', async () => {
    const s = await open({ command_timeout_seconds: { backup: 600 }, stall_timeout_seconds: 2 });
    try {
      fs.writeFileSync(modeFile, 'silent');
      const started = Date.now();
      const err = await failureOf(s.create('manual'));
      assert.equal(err.code, 'snapshots_unavailable');
      assert.match(err.message, /restic backup made no progress for 2 s.*snapshots\.stall_timeout_seconds/);
      assert.ok(Date.now() - started < 20_000, `stopped after ${Date.now() - started} ms`);
      assert.deepEqual(leftIn(repoLayout(dirs.stateDir).root), []);
      await recovers(s);
    } finally {
      s.stop();
    }
  });

  test('a restic that reports a full disk is stopped at once, not after its retries', async () => {
    const s = await open({ command_timeout_seconds: { backup: 600 }, stall_timeout_seconds: 600 });
    try {
      fs.writeFileSync(modeFile, 'nospace');
      const started = Date.now();
      const err = await failureOf(s.create('manual'));
      assert.equal(err.code, 'snapshots_unavailable');
      assert.match(err.message, /disk holding the snapshot repository is full/);
      assert.ok(Date.now() - started < 20_000, `stopped after ${Date.now() - started} ms`);
      await recovers(s);
    } finally {
      s.stop();
    }
  });
});

describe('a disk that fills during a snapshot', { skip: process.getuid?.() === 0 ? false : 'needs root to mount a small tmpfs' }, () => {
  let dirs: TempDirs;
  let stateDir: string;

  before(() => {
    dirs = makeTempDirs();
    stateDir = path.join(dirs.root, 'small-state');
    fs.mkdirSync(stateDir);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m,mode=0700', 'tmpfs', stateDir]);
    fs.mkdirSync(path.join(stateDir, 'secrets'), { mode: 0o700 });
    process.env.STANDIN_RESTIC_MODE = path.join(dirs.root, 'standin-mode');
  });

  after(() => {
    delete process.env.STANDIN_RESTIC_MODE;
    execFileSync('umount', [stateDir]);
    dirs.remove();
  });

  test('a real full disk mid-snapshot fails it at once, saying so; once there is room the next succeeds and checks clean', async () => {
    const modeFile = process.env.STANDIN_RESTIC_MODE as string;
    const s = new SnapshotService({ home: dirs.home, stateDir, policy: policy({ stall_timeout_seconds: 600 }), runAs: null, log: quiet });
    await s.init();
    try {
      assert.equal(s.reason, null);
      execFileSync('dd', ['if=/dev/urandom', `of=${path.join(dirs.home, 'data.bin')}`, 'bs=1M', 'count=2', 'status=none']);
      // The free-space check passes; the stand-in then fills the disk and runs the real restic.
      fs.writeFileSync(modeFile, 'fill');
      const started = Date.now();
      const err = await failureOf(s.create('manual'));
      assert.equal(err.code, 'snapshots_unavailable');
      assert.match(err.message, /disk holding the snapshot repository is full/);
      assert.ok(Date.now() - started < 20_000, `stopped after ${Date.now() - started} ms`);
      fs.rmSync(modeFile);
      fs.rmSync(path.join(repoLayout(stateDir).root, 'filler'));
      await assertSnapshotsWork(s);
    } finally {
      s.stop();
    }
  });
});
