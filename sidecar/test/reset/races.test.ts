/**
 * Reset Data's moves and deletes when the notebook user attacks the home:
 * with a loop of the user's swapping a folder for a link to root's files
 * (support/swap.ts), the reset's swap (the home on another filesystem, so
 * its old entries are deleted) and the delete of a staging tree the user
 * can reach run 200 times each, and nothing outside the home is deleted,
 * changed or added. Every move and delete runs as the user (snapshots/
 * homeFiles.ts). Needs root (a user, a tmpfs); skipped without it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { NotebookUser } from '../../src/jupyter/notebookUser';
import { RunAs } from '../../src/jupyter/launch';
import { createLogger } from '../../src/log';
import { ResetJournal, ResetJournalEntry } from '../../src/reset/journal';
import { makeWorkDir, removeWork, stageTemplate, swapIn, SwapContext } from '../../src/reset/swap';
import { UserFiles } from '../../src/snapshots/homeFiles';
import { prepareWorkArea } from '../../src/state/privateDir';
import { makeTempDirs, TempDirs } from '../support/sidecar';
import { asUserArgs, notebookUser, startSwapper, treeListing } from '../support/swap';
import { courseHome, listing } from './support';

const skip = process.getuid?.() === 0 ? false : 'needs root to create a notebook user and mount a tmpfs';
const ROUNDS = 200;
/** The folder of the home with the attacker's link, which the resets keep (as they keep home.exclude's names). */
const ATTACK = 'attack';

describe('Reset Data when the notebook user swaps folders for links', { skip }, () => {
  let dirs: TempDirs;
  let user: NotebookUser;
  let runAs: RunAs;
  let home: string;
  let template: string;
  let resetDir: string;
  /** Root's files, which a delete led through a link would remove: a folder the user may read but not change. */
  let rootFiles: string;
  let rootFilesBefore: string[];
  let ctx: SwapContext;

  before(() => {
    user = notebookUser();
    runAs = { user, deviceGid: null };
    dirs = makeTempDirs();
    fs.chmodSync(dirs.root, 0o755);
    // The home on a filesystem of its own: the reset then deletes the old entries instead of moving them aside.
    home = path.join(dirs.root, 'volume-home');
    fs.mkdirSync(home);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0755', 'tmpfs', home]);
    fs.chownSync(home, user.uid, user.gid);
    template = path.join(dirs.root, 'template');
    courseHome(template);
    // Its inner folder has the name of one in the user's tree: a delete that lists the user's folder and is then
    // led through the link meets a real folder of root's by that name.
    rootFiles = path.join(dirs.root, 'root-files');
    fs.mkdirSync(path.join(rootFiles, 'deeper'), { recursive: true });
    for (let i = 0; i < 5; i++) {
      fs.writeFileSync(path.join(rootFiles, 'deeper', `file-${i}.txt`), `root's ${i}\n`);
    }
    rootFilesBefore = treeListing(rootFiles);
    // The state directory on a tmpfs as well: the reset flushes both disks at each step (sync -f), which on a
    // busy machine's real disk would make 200 rounds take minutes and test nothing more.
    fs.mkdirSync(dirs.stateDir, { mode: 0o700 });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0700', 'tmpfs', dirs.stateDir]);
    resetDir = path.join(dirs.stateDir, 'reset');
    prepareWorkArea(resetDir, true);
    const log = createLogger('error', 'test', () => undefined);
    ctx = { journal: new ResetJournal(resetDir), runAs, files: new UserFiles(runAs, resetDir), log };
  });

  after(() => {
    execFileSync('umount', [home]);
    execFileSync('umount', [dirs.stateDir]);
    dirs.remove();
  });

  /**
   * Makes, as the user (root's own recursive chown would race the swap loop too), FOLDER/sub/deeper/mine.txt
   * (and fifty files in sub/, so that deleting sub/ lasts long enough for the swap to land), and the link
   * LINKS/sub-link to root's files, out of the tree being deleted (rm deletes a link beside the folder first).
   */
  function userTree(folder: string, links: string): [string, string] {
    const script =
      'mkdir -p "$1/sub/deeper" && echo mine > "$1/sub/deeper/mine.txt" && mkdir -p "$3" && ' +
      'rm -rf "$3/sub-link" && ln -s "$2" "$3/sub-link" && ' +
      'i=0; while [ $i -lt 50 ]; do : > "$1/sub/f$i"; i=$((i + 1)); done';
    const [file, args] = asUserArgs(user, ['/bin/sh', '-c', script, 'sh', folder, rootFiles, links]);
    execFileSync(file, args);
    return [path.join(folder, 'sub'), path.join(links, 'sub-link')];
  }

  /** The user's work, with data/sub a folder of the user's, and attack/sub-link (kept by the reset) a link to root's files. */
  function userHome(): [string, string] {
    return userTree(path.join(home, 'data'), path.join(home, ATTACK));
  }

  function entry(i: number): ResetJournalEntry {
    const id = `r-race-${i}`;
    const workDir = path.join(resetDir, id);
    return {
      version: 1,
      id,
      phase: 'preparing',
      outcome: null,
      recovered: null,
      snapshot_id: null,
      template: 'operator',
      template_dir: template,
      home,
      work_dir: workDir,
      staged: path.join(workDir, 'incoming'),
      aside: path.join(workDir, 'previous'),
      same_filesystem: false,
      kept: [],
      hook: 'none',
      hook_run: null,
      started_at: new Date().toISOString(),
      finished_at: null,
      message: null
    };
  }

  /** A reset the attack made fail part way, finished as the next start would, once the attack on it stopped. */
  async function finishAfterAttack(e: ResetJournalEntry): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await swapIn({ ...e, phase: 'prepared' }, [ATTACK], ctx);
        return;
      } catch (err) {
        if (attempt >= 5) {
          throw err;
        }
      }
    }
  }

  test(`a reset deletes nothing outside the home, ${ROUNDS} times while a folder it deletes is swapped for a link as it is opened`, async () => {
    const pair = userHome();
    const swapper = await startSwapper(user, [pair], 'on-open');
    let failed = 0;
    try {
      for (let i = 0; i < ROUNDS; i++) {
        if (i > 0) {
          await swapper.pause();
          userHome();
          await swapper.resume();
        }
        const e = entry(i);
        makeWorkDir(e.work_dir, runAs);
        await stageTemplate(e, ctx);
        try {
          await swapIn(e, [ATTACK], ctx);
        } catch {
          // The user can make its own reset fail (rm meets a folder that became a link); it is finished next time.
          failed++;
          await finishAfterAttack(e);
        }
        await removeWork(e.work_dir, ctx.files);
      }
    } finally {
      const swaps = await swapper.stop();
      assert.ok(swaps > 0, `the loop swapped ${swaps} times`);
    }
    assert.deepEqual(treeListing(rootFiles), rootFilesBefore, 'root\'s files were changed');
    assert.ok(failed < ROUNDS / 2, `${failed} of ${ROUNDS} resets failed`);
    // The home is the clean copy, the user's.
    assert.deepEqual(listing(home, { excludes: [ATTACK] }), listing(template));
    assert.equal(execFileSync('find', [home, '!', '-user', String(user.uid)], { encoding: 'utf8' }).trim(), '');
    assert.deepEqual(fs.readdirSync(resetDir).filter(n => n.startsWith('r-')), [], 'every reset folder was removed');
  });

  test(`deleting a staging tree the user can reach deletes nothing else, ${ROUNDS} times while a folder in it is swapped for a link as it is opened`, async () => {
    // The old layout's staging (in /tmp, reachable by the user): the delete must be safe wherever the tree lies.
    const staging = path.join(dirs.root, 'reachable-staging');
    const incoming = path.join(staging, 'incoming');
    const links = path.join(dirs.root, 'attack');
    fs.mkdirSync(links);
    fs.chownSync(links, user.uid, user.gid);
    const swapper = await startSwapper(user, [[path.join(incoming, 'sub'), path.join(links, 'sub-link')]], 'on-open');
    let failed = 0;
    try {
      for (let i = 0; i < ROUNDS; i++) {
        fs.mkdirSync(staging);
        fs.chownSync(staging, user.uid, user.gid);
        await swapper.pause();
        userTree(incoming, links);
        await swapper.resume();
        // As in a reset's end, a failure (the tree changed under rm) is logged and the next start tries again.
        for (let attempt = 0; fs.existsSync(staging); attempt++) {
          await removeWork(staging, ctx.files).catch((err: Error) => {
            failed++;
            if (attempt >= 5) {
              throw err;
            }
          });
        }
      }
    } finally {
      const swaps = await swapper.stop();
      assert.ok(swaps > 0, `the loop swapped ${swaps} times`);
    }
    assert.deepEqual(treeListing(rootFiles), rootFilesBefore, 'root\'s files were changed');
    assert.ok(failed < ROUNDS / 2, `${failed} of ${ROUNDS} deletes needed another try`);
  });
});
