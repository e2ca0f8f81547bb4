import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunAs } from '../jupyter/launch';
import { Logger } from '../log';
import { copyAllInAsUser, exists, giveToUser } from '../snapshots/homeFiles';
import { ResetJournal, ResetJournalEntry, syncDir } from './journal';
import { copyTree, syncFilesystem } from './template';

/**
 * The home's side of a reset: the clean copy staged, the old entries out, the
 * new ones in, each step written to the journal before it starts, and the way
 * back (or forward) from wherever a crash stopped it.
 *
 * On one filesystem every move is a rename, atomic per entry, so each entry
 * is always either in the home or in its folder aside: until the clean copy
 * is complete the old home can be put back exactly. On another filesystem
 * (the home a volume of its own) the old entries are deleted, as a whole
 * restore does there, and the pre-reset snapshot holds them: once deleting
 * has begun the reset is finished rather than undone.
 */
export interface SwapContext {
  journal: ResetJournal;
  runAs: RunAs | null;
  log: Logger;
}

/** Copies the template into the staging folder and gives it to the notebook user. */
export async function stageTemplate(entry: ResetJournalEntry, runAs: RunAs | null): Promise<{ files: number; bytes: number }> {
  fs.mkdirSync(path.dirname(entry.staged), { recursive: true, mode: 0o700 });
  fs.rmSync(entry.staged, { recursive: true, force: true });
  const counts = await copyTree(entry.template_dir, entry.staged);
  giveToUser(entry.staged, runAs);
  await syncFilesystem(entry.staged);
  return counts;
}

/** The home's entries a reset replaces: all but the kept ones (caches named by home.exclude). */
function replaced(entry: ResetJournalEntry): string[] {
  return fs.readdirSync(entry.home).filter(name => !entry.kept.includes(name));
}

function moveOldOut(entry: ResetJournalEntry): void {
  if (entry.same_filesystem) {
    fs.mkdirSync(entry.aside, { recursive: true, mode: 0o700 });
  }
  for (const name of replaced(entry)) {
    const from = path.join(entry.home, name);
    if (entry.same_filesystem) {
      fs.renameSync(from, path.join(entry.aside, name));
    } else {
      fs.rmSync(from, { recursive: true, force: true });
    }
  }
  syncDir(entry.home);
  if (entry.same_filesystem) {
    syncDir(entry.aside);
  }
}

async function moveNewIn(entry: ResetJournalEntry, ctx: SwapContext): Promise<void> {
  const incoming: string[] = [];
  for (const name of fs.readdirSync(entry.staged)) {
    if (exists(path.join(entry.home, name))) {
      // A kept cache of the same name stays; the template's copy of it is not needed.
      ctx.log.info('reset: the home keeps its own copy of an excluded name', { name });
    } else {
      incoming.push(name);
    }
  }
  if (entry.same_filesystem) {
    for (const name of incoming) {
      fs.renameSync(path.join(entry.staged, name), path.join(entry.home, name));
    }
    syncDir(entry.home);
  } else {
    await copyAllInAsUser(
      incoming.map(name => path.join(entry.staged, name)),
      entry.home,
      path.dirname(entry.staged),
      ctx.runAs
    );
    await syncFilesystem(entry.home);
  }
}

/**
 * Swaps the home's entries for the staged ones. Jupyter must be stopped.
 * Resolves with the journal at `template-in-place`; a failure part way leaves
 * the journal where it got to, for `recover`.
 */
export async function swapIn(entry: ResetJournalEntry, kept: string[], ctx: SwapContext): Promise<ResetJournalEntry> {
  let e = ctx.journal.update(entry, { phase: 'prepared', kept });
  moveOldOut(e);
  e = ctx.journal.update(e, { phase: 'old-moved-aside' });
  await moveNewIn(e, ctx);
  return ctx.journal.update(e, { phase: 'template-in-place' });
}

/** Whether every entry of the clean copy is in the home (the staged folder holds only what the home kept). */
function cleanCopyInPlace(entry: ResetJournalEntry): boolean {
  if (!exists(entry.staged)) {
    return false;
  }
  return fs.readdirSync(entry.staged).every(name => exists(path.join(entry.home, name)));
}

/** Puts the old entries back: the home is exactly what it was before the reset. */
function rollBack(entry: ResetJournalEntry, ctx: SwapContext): void {
  if (entry.phase === 'old-moved-aside') {
    // The home's non-kept entries are the clean copy's: back to staging with them.
    fs.mkdirSync(entry.staged, { recursive: true, mode: 0o700 });
    for (const name of replaced(entry)) {
      fs.renameSync(path.join(entry.home, name), path.join(entry.staged, name));
    }
  }
  if (exists(entry.aside)) {
    for (const name of fs.readdirSync(entry.aside)) {
      let target = path.join(entry.home, name);
      if (exists(target)) {
        // Something made a new entry of that name meanwhile: both are kept.
        target = path.join(entry.home, `${name} (before reset)`);
        ctx.log.warn('reset rollback: a name was taken meanwhile; the old entry is put beside it', { name });
      }
      fs.renameSync(path.join(entry.aside, name), target);
    }
  }
  syncDir(entry.home);
}

/** Completes the swap from wherever it stopped (another filesystem, or the clean copy already complete). */
async function finish(entry: ResetJournalEntry, ctx: SwapContext): Promise<ResetJournalEntry> {
  if (!entry.same_filesystem) {
    if (!exists(entry.staged)) {
      // The staging folder was in /tmp and a reboot took it: make the clean copy again.
      await stageTemplate(entry, ctx.runAs);
    }
    // Old entries (in the pre-reset snapshot) and a part-copied clean copy alike go; then all of it comes in.
    for (const name of replaced(entry)) {
      fs.rmSync(path.join(entry.home, name), { recursive: true, force: true });
    }
    await moveNewIn(entry, ctx);
  }
  return ctx.journal.update(entry, { phase: 'template-in-place' });
}

/**
 * Brings an unfinished reset to an end that is a whole home: the old one
 * (rolled back) or the clean one (finished; the hook, if pending, is the
 * caller's to run). Returns the journal as it then is; `outcome` is left for
 * the caller to set.
 */
export async function recover(entry: ResetJournalEntry, ctx: SwapContext): Promise<{ entry: ResetJournalEntry; action: 'rolled-back' | 'finished' }> {
  switch (entry.phase) {
    case 'preparing':
      // The home was not touched yet.
      return { entry, action: 'rolled-back' };
    case 'prepared':
    case 'old-moved-aside':
      if (!entry.same_filesystem) {
        return { entry: await finish(entry, ctx), action: 'finished' };
      }
      if (entry.phase === 'old-moved-aside' && cleanCopyInPlace(entry)) {
        return { entry: await finish(entry, ctx), action: 'finished' };
      }
      rollBack(entry, ctx);
      return { entry, action: 'rolled-back' };
    case 'template-in-place':
    case 'done':
      return { entry, action: 'finished' };
  }
}

/** Removes the reset's staging and the old entries set aside (the pre-reset snapshot holds them). */
export function removeWork(entry: ResetJournalEntry): Promise<void> {
  return fs.promises.rm(entry.work_dir, { recursive: true, force: true });
}
