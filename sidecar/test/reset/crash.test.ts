/**
 * A sidecar killed with SIGKILL in the middle of a reset, then started again:
 * the home is exactly the old one or exactly the clean one, never a mix, and
 * the journal says which. The homes are made large in entries (thousands of
 * top-level files) so that each phase lasts long enough to be caught: the
 * test watches the journal and kills the real sidecar process the moment it
 * shows the phase wanted.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ResetPhase, ResetStatusResponse } from '@jupyterlab-gpu-workspace/api';
import { makeTempDirs, Sidecar, startSidecar, TempDirs, waitFor } from '../support/sidecar';
import { auditRows, courseHome, listing, post, readJournal, resetStatus, userWork, write } from './support';

const ENTRIES = 6000;
const CONFIRM = { confirm: 'Reset data' };

/** Many small top-level entries: each one is a rename (or a copy) of its own, so a phase takes a while. */
function manyFiles(root: string, prefix: string, count: number): void {
  for (let i = 0; i < count; i++) {
    fs.writeFileSync(path.join(root, `${prefix}-${String(i).padStart(5, '0')}.txt`), `${prefix} ${i}\n`);
  }
}

/** Resolves once the journal shows one of `phases` (or 'done': then the moment was missed and the caller says so). */
async function journalReaches(stateDir: string, phases: ResetPhase[], timeoutMs = 120_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  // The journal of an earlier reset may still be there until this one writes its own.
  const earlier = readJournal(stateDir)?.id;
  while (Date.now() < deadline) {
    const journal = readJournal(stateDir);
    if (journal && journal.id !== earlier) {
      if (journal.outcome === null && phases.includes(journal.phase as ResetPhase)) {
        return journal.phase as string;
      }
      if (journal.outcome !== null) {
        return 'done';
      }
    }
    // Reading the small journal file in a tight loop: the phases last a fraction of a second.
    await new Promise(r => setImmediate(r));
  }
  throw new Error(`The journal did not reach "${phases.join('" or "')}" within ${timeoutMs / 1000} s: ${JSON.stringify(readJournal(stateDir))}`);
}

interface Crash {
  /** The home as it was before the reset (what a rollback must give back). */
  old: string[];
  status: ResetStatusResponse;
}

describe('a sidecar killed in the middle of a reset', () => {
  let dirs: TempDirs;
  let sidecar: Sidecar | null = null;
  let clean: string[];
  let slowHookMark: string;
  const config = (): Record<string, unknown> => ({
    snapshots: { schedule_minutes: 0 },
    reset: { post_reset_hook: [path.join(dirs.root, 'hook.sh')], hook_timeout_seconds: 120 }
  });
  /** What the home looks like apart from the cache the reset keeps and the file the hook writes. */
  const view = (): string[] => listing(dirs.home, { excludes: ['.cache', 'hook-ran.txt'] });

  before(async () => {
    dirs = makeTempDirs();
    slowHookMark = path.join(dirs.root, 'slow-hook');
    // The hook is slow only when the test asks (the mark is there), and says it ran by a file in the home.
    fs.writeFileSync(path.join(dirs.root, 'hook.sh'), `#!/bin/sh\nif [ -e '${slowHookMark}' ]; then rm '${slowHookMark}'; echo slow; sleep 300; fi\necho ran > hook-ran.txt\n`, { mode: 0o755 });
    courseHome(dirs.home);
    manyFiles(dirs.home, 'template', ENTRIES);
    clean = listing(dirs.home);
    sidecar = await startSidecar({ dirs, config: config() });
  });

  after(async () => {
    await sidecar?.stop();
    dirs?.remove();
  });

  /** Starts a reset over a home of user work, kills the sidecar at `phase`, starts it again, and reports. */
  async function crashAt(phase: ResetPhase, alsoWaitFor?: { what: string; check: () => boolean }): Promise<Crash> {
    assert.ok(sidecar);
    userWork(dirs.home);
    for (const name of fs.readdirSync(dirs.home).filter(n => n.startsWith('work-'))) {
      fs.rmSync(path.join(dirs.home, name));
    }
    manyFiles(dirs.home, 'work', ENTRIES);
    write(dirs.home, 'my-work/nested/deep.txt', `before ${phase}\n`);
    const old = view();
    const watching = journalReaches(dirs.stateDir, [phase]);
    const reset = post(sidecar, 'reset', CONFIRM).catch(() => null);
    const reached = await watching;
    if (alsoWaitFor) {
      await waitFor(alsoWaitFor.what, () => (alsoWaitFor.check() ? true : undefined), { intervalMs: 20 });
    }
    const killed = await sidecar.signalAndWait('SIGKILL', 10_000);
    assert.ok(killed, 'the sidecar died');
    await reset;
    assert.equal(reached, phase, `the reset ran past "${phase}" before the test saw it`);
    sidecar = await startSidecar({ dirs, config: config() });
    return { old, status: await resetStatus(sidecar) };
  }

  /** Whole either way, and the journal says which. */
  function assertWhole(crash: Crash, expected: 'rolled-back' | 'finished' | 'either'): void {
    const last = crash.status.last;
    assert.ok(last, 'the journal is there');
    assert.ok(last.recovered === 'rolled-back' || last.recovered === 'finished', `recovered: ${last.recovered}`);
    assert.equal(last.outcome, last.recovered);
    if (expected !== 'either') {
      assert.equal(last.recovered, expected);
    }
    const now = view();
    if (last.recovered === 'rolled-back') {
      assert.deepEqual(now, crash.old, 'rolled back: the home is exactly the old one');
    } else {
      assert.deepEqual(now, clean, 'finished: the home is exactly the clean one');
      assert.equal(last.phase, 'done');
    }
    assert.ok(crash.status.available, String(crash.status.reason));
    assert.equal(auditRows(dirs.stateDir, 'reset').at(-1)?.detail.outcome, last.recovered);
    const leftovers = fs.readdirSync(path.join(dirs.stateDir, 'reset')).filter(n => n.startsWith('r-'));
    assert.deepEqual(leftovers, [], 'no staging is left behind');
  }

  test('killed while the clean copy is prepared: the home is untouched (rolled back)', async () => {
    assertWhole(await crashAt('preparing'), 'rolled-back');
  });

  test('killed while the old files are moved aside: the home is put back exactly', async () => {
    assertWhole(await crashAt('prepared'), 'rolled-back');
  });

  test('killed while the clean copy moves in: the home is the old one or the clean one, as the journal says', async () => {
    assertWhole(await crashAt('old-moved-aside'), 'either');
  });

  test('killed during the post-reset hook: the reset is finished and the hook run again', async () => {
    fs.writeFileSync(slowHookMark, '');
    // Killed once the hook runs (it removes the mark first thing), not between the swap and its start.
    const crash = await crashAt('template-in-place', { what: 'the slow hook to start', check: () => !fs.existsSync(slowHookMark) });
    assertWhole(crash, 'finished');
    assert.equal(fs.readFileSync(path.join(dirs.home, 'hook-ran.txt'), 'utf8'), 'ran\n');
    assert.match(crash.status.last?.message ?? '', /hook was run again/);
  });

  test('after the crashes a reset works as usual', async () => {
    assert.ok(sidecar);
    userWork(dirs.home);
    const res = await post(sidecar, 'reset', CONFIRM);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(view(), clean);
  });
});

describe('a home on another filesystem than the state directory', { skip: process.getuid?.() === 0 ? false : 'needs root to mount a tmpfs' }, () => {
  let dirs: TempDirs;
  let sidecar: Sidecar | null = null;
  let clean: string[];
  const config = { snapshots: { schedule_minutes: 0 } };

  before(async () => {
    dirs = makeTempDirs();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0755', 'tmpfs', dirs.home]);
    courseHome(dirs.home);
    manyFiles(dirs.home, 'template', ENTRIES);
    clean = listing(dirs.home);
    sidecar = await startSidecar({ dirs, config });
  });

  after(async () => {
    await sidecar?.stop();
    try {
      execFileSync('umount', [dirs.home]);
    } finally {
      dirs?.remove();
    }
  });

  test('a reset copies the clean home in, and undo brings the old files back', async () => {
    assert.ok(sidecar);
    userWork(dirs.home);
    const old = listing(dirs.home, { excludes: ['.cache'] });
    const res = await post<{ snapshot_id: string }>(sidecar, 'reset', CONFIRM);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(listing(dirs.home, { excludes: ['.cache'] }), clean);
    const undo = await post(sidecar, 'reset/undo', { snapshot_id: res.body.snapshot_id });
    assert.equal(undo.status, 200, JSON.stringify(undo.body));
    assert.deepEqual(listing(dirs.home, { excludes: ['.cache'] }), old);
  });

  test('killed once the old files are going, the reset is finished at the next start', async () => {
    assert.ok(sidecar);
    userWork(dirs.home);
    manyFiles(dirs.home, 'work', ENTRIES);
    // Deleting is quick on a tmpfs: the kill comes while the old files go or while the clean ones come in.
    const watching = journalReaches(dirs.stateDir, ['prepared', 'old-moved-aside']);
    const reset = post(sidecar, 'reset', CONFIRM).catch(() => null);
    const reached = await watching;
    await sidecar.signalAndWait('SIGKILL', 10_000);
    await reset;
    assert.notEqual(reached, 'done', 'the reset ended before the test saw it');
    sidecar = await startSidecar({ dirs, config });
    const last = (await resetStatus(sidecar)).last;
    assert.equal(last?.recovered, 'finished');
    assert.deepEqual(listing(dirs.home, { excludes: ['.cache'] }), clean);
  });
});
