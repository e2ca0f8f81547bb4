import * as fs from 'node:fs';
import { RunAs } from '../jupyter/launch';
import { Logger } from '../log';
import { exists, giveToUser, UserFiles } from '../snapshots/homeFiles';
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
 *
 * Every move, copy and delete in the home runs as the notebook user
 * (`files`: snapshots/homeFiles.ts); the reset's own folder (staging and the
 * old entries aside) lies in the reset's work area in the root-only state
 * directory. Root lists only the home's top level, by its fixed path.
 */
export interface SwapContext {
  journal: ResetJournal;
  runAs: RunAs | null;
  files: UserFiles;
  log: Logger;
}

/** The home's top-level names (its own folder, listed by its fixed path: nothing in it is followed). */
function homeNames(entry: ResetJournalEntry): string[] {
  return fs.readdirSync(entry.home);
}

/** Copies the template into the staging folder and gives it to the notebook user. */
export async function stageTemplate(entry: ResetJournalEntry, ctx: Pick<SwapContext, 'runAs' | 'files'>): Promise<{ files: number; bytes: number }> {
  makeWorkDir(entry.work_dir, ctx.runAs);
  if (exists(entry.staged)) {
    await ctx.files.remove([entry.staged]);
  }
  // The template is the operator's (or the first-start copy in the state directory): root may read it, and
  // writes only into the reset's folder, out of the user's reach.
  const counts = await copyTree(entry.template_dir, entry.staged);
  giveToUser(entry.staged, ctx.runAs);
  await syncFilesystem(entry.staged);
  return counts;
}

/**
 * The reset's own folder, in the work area: the user's (0700), so that the
 * user's helpers can move entries in and out of it and delete them; the
 * user's own processes cannot reach it.
 */
export function makeWorkDir(workDir: string, runAs: RunAs | null): void {
  if (!exists(workDir)) {
    fs.mkdirSync(workDir, { mode: 0o700 });
  }
  if (process.getuid?.() === 0) {
    fs.lchownSync(workDir, runAs?.user.uid ?? 0, runAs?.user.gid ?? 0);
  }
}

/** The home's entries a reset replaces: all but the kept ones (caches named by home.exclude). */
function replaced(entry: ResetJournalEntry): string[] {
  return homeNames(entry).filter(name => !entry.kept.includes(name));
}

/** The folder aside for the old entries (one filesystem), the user's so that the user's helper can move into it. */
function makeAside(entry: ResetJournalEntry, runAs: RunAs | null): void {
  if (!exists(entry.aside)) {
    fs.mkdirSync(entry.aside, { mode: 0o700 });
  }
  giveToUser(entry.aside, runAs);
}

async function moveOldOut(entry: ResetJournalEntry, ctx: SwapContext): Promise<void> {
  if (entry.same_filesystem) {
    makeAside(entry, ctx.runAs);
  }
  await ctx.files.moveOut(entry.home, replaced(entry), entry.same_filesystem ? entry.aside : null);
  syncDir(entry.home);
  if (entry.same_filesystem) {
    syncDir(entry.aside);
  }
}

async function moveNewIn(entry: ResetJournalEntry, ctx: SwapContext): Promise<void> {
  const present = new Set(homeNames(entry));
  const incoming: string[] = [];
  for (const name of fs.readdirSync(entry.staged)) {
    if (present.has(name)) {
      // A kept cache of the same name stays; the template's copy of it is not needed.
      ctx.log.info('reset: the home keeps its own copy of an excluded name', { name });
    } else {
      incoming.push(name);
    }
  }
  if (entry.same_filesystem) {
    await ctx.files.moveIn(entry.staged, entry.home, incoming);
    syncDir(entry.home);
  } else {
    await ctx.files.copyIn(entry.staged, entry.home, incoming);
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
  await moveOldOut(e, ctx);
  e = ctx.journal.update(e, { phase: 'old-moved-aside' });
  await moveNewIn(e, ctx);
  return ctx.journal.update(e, { phase: 'template-in-place' });
}

/** Whether every entry of the clean copy is in the home (the staged folder holds only what the home kept). */
function cleanCopyInPlace(entry: ResetJournalEntry): boolean {
  if (!exists(entry.staged)) {
    return false;
  }
  const present = new Set(homeNames(entry));
  return fs.readdirSync(entry.staged).every(name => present.has(name));
}

/** Puts the old entries back: the home is exactly what it was before the reset. */
async function rollBack(entry: ResetJournalEntry, ctx: SwapContext): Promise<void> {
  if (entry.phase === 'old-moved-aside') {
    // The home's non-kept entries are the clean copy's: back to staging with them.
    if (!exists(entry.staged)) {
      fs.mkdirSync(entry.staged, { mode: 0o700 });
      giveToUser(entry.staged, ctx.runAs);
    }
    await ctx.files.moveOut(entry.home, replaced(entry), entry.staged);
  }
  if (exists(entry.aside)) {
    // Something may have made a new entry of an old name meanwhile: both are kept, the old one beside it.
    const renamed = await ctx.files.moveBack(entry.aside, entry.home, fs.readdirSync(entry.aside), ' (before reset)');
    for (const name of renamed) {
      ctx.log.warn('reset rollback: a name was taken meanwhile; the old entry is put beside it', { name });
    }
  }
  syncDir(entry.home);
}

/** Completes the swap from wherever it stopped (another filesystem, or the clean copy already complete). */
async function finish(entry: ResetJournalEntry, ctx: SwapContext): Promise<ResetJournalEntry> {
  if (!entry.same_filesystem) {
    if (!exists(entry.staged)) {
      // The staging folder was lost (it lay in /tmp before this version): make the clean copy again.
      await stageTemplate(entry, ctx);
    }
    // Old entries (in the pre-reset snapshot) and a part-copied clean copy alike go; then all of it comes in.
    await ctx.files.moveOut(entry.home, replaced(entry), null);
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
      await rollBack(entry, ctx);
      return { entry, action: 'rolled-back' };
    case 'template-in-place':
    case 'done':
      return { entry, action: 'finished' };
  }
}

/**
 * Removes a reset's folder: its staging and the old entries set aside (the
 * pre-reset snapshot holds them). They are the user's trees, so the user
 * deletes them (a process of the user that kept a folder open as it moved
 * aside could still change it, and root's delete would follow a link put
 * there); the emptied folder itself is root's to remove.
 */
export async function removeWork(workDir: string, files: UserFiles): Promise<void> {
  await files.removeFolder(workDir);
}
