/**
 * Restores, from restic's output to the home: a staging folder in the
 * root-only staging area for restic (running as the notebook user) to
 * restore into, then the move of what it restored into the home, as the
 * user, never over an existing entry and never through a link. The snapshot
 * service decides when (its queue, its progress); this decides how.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { badRequest, notFound, snapshotsUnavailable, WorkspaceError } from '../errors';
import { globToRegExp } from '../glob';
import type { RunAs } from '../jupyter/launch';
import type { Logger } from '../log';
import { giveToUser, HomePathError, sameFilesystem, UserFiles } from './homeFiles';

/** The most names a restored entry tries before giving up ("x (restored … 99)"). */
const MAX_RESTORED_NAMES = 100;

/** What a restore needs of the snapshot it restores. */
export interface StagedSnapshot {
  id: string;
  short_id: string;
  /** The folders it holds; the home is the first. */
  paths: string[];
}

export interface RestoreStagingOptions {
  home: string;
  stagingDir: string;
  runAs: RunAs | null;
  userFiles: UserFiles;
  log: Logger;
  /** Runs `restic restore` with these arguments, giving it `fds` (3, 4, …); throws a message for the user when it fails. */
  restore: (args: string[], fds: number[]) => Promise<void>;
}

/** restic include patterns are globs: a file literally named "a[1].txt" must not be read as a pattern. */
function escapeGlob(p: string): string {
  return p.replace(/[\\*?[\]]/g, c => `\\${c}`);
}

function stamp(d: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}${pad(d.getMinutes())}`;
}

/** "name (restored 2026-01-05 1430).ext", "… 2).ext", …: the names a restored entry may take, its own first. */
function restoredNames(name: string): string[] {
  const ext = path.extname(name);
  const stem = path.basename(name, ext);
  const label = stamp(new Date());
  const names = [name];
  for (let n = 1; names.length < MAX_RESTORED_NAMES; n++) {
    names.push(`${stem} (restored ${label}${n > 1 ? ` ${n}` : ''})${ext}`);
  }
  return names;
}

/** A path check's failure as the user sees it. */
function pathRefusal(err: unknown): unknown {
  if (err instanceof HomePathError) {
    return badRequest(
      err.kind === 'link'
        ? `"${err.rel}" is a symbolic link; files are never restored through a link.`
        : `"${err.rel}" is a file, so nothing can be restored inside it.`
    );
  }
  return err;
}

const parentOf = (rel: string): string => (path.posix.dirname(rel) === '.' ? '' : path.posix.dirname(rel));

export class RestoreStaging {
  constructor(private readonly options: RestoreStagingOptions) {}

  /** Refuses, before restic runs, a restore through a link or into a file (checked as the user). */
  async checkPath(rel: string): Promise<void> {
    const relDir = parentOf(rel);
    if (!relDir) {
      return;
    }
    try {
      await this.options.userFiles.checkParents(this.options.home, relDir);
    } catch (err) {
      throw pathRefusal(err);
    }
  }

  /** Restores one file or folder beside (or at) `rel`; answers where it went, relative to the home. */
  async restoreOne(snap: StagedSnapshot, rel: string): Promise<string> {
    const { staging, stagedHome } = await this.stage(snap, rel);
    try {
      const staged = path.join(stagedHome, rel);
      // In staging (root-only), so looked at by name as root.
      if (!fs.lstatSync(staged, { throwIfNoEntry: false })) {
        throw notFound(`"${rel}" is not in snapshot ${snap.id}.`);
      }
      // The folders on the way are checked again as the entry moves in: the home may have changed while restic ran.
      const restoredTo = await this.place(staged, rel);
      this.options.log.info('restored', { id: snap.short_id, path: rel, restored_to: restoredTo });
      return restoredTo;
    } finally {
      await this.removeStaging(staging);
    }
  }

  /** Replaces the home's top-level entries with the snapshot's; names matching `excludes` (caches) stay as they are. */
  async restoreWhole(snap: StagedSnapshot, excludes: string[]): Promise<void> {
    const { home, runAs, userFiles } = this.options;
    const { staging, stagedHome } = await this.stage(snap, '');
    try {
      const excluded = (name: string): boolean => excludes.some(p => globToRegExp(p).test(name));
      // The home's own top level, listed by its fixed path; every move below runs as the user.
      const names = fs.readdirSync(home).filter(name => !excluded(name));
      // Out of the way first (renames on one filesystem: a moment), then the snapshot's entries in.
      // Across filesystems they are deleted instead: the snapshot taken first holds them.
      let aside: string | null = null;
      if (sameFilesystem(this.options.stagingDir, home)) {
        aside = path.join(staging, 'previous');
        fs.mkdirSync(aside);
        giveToUser(aside, runAs);
      }
      const incoming = fs.existsSync(stagedHome) ? fs.readdirSync(stagedHome) : [];
      try {
        await userFiles.moveOut(home, names, aside);
        // Names the home kept (its caches) are not overwritten.
        await userFiles.moveIn(stagedHome, home, incoming);
      } catch (err) {
        throw snapshotsUnavailable(`Putting the restored files into the home failed: ${(err as Error).message}`);
      }
      this.options.log.info('home restored', { id: snap.short_id });
    } finally {
      await this.removeStaging(staging);
    }
  }

  /**
   * Puts a staged entry into the home at `rel`, or beside it when taken
   * ("name (restored …)"), with any missing folders on the way made; all of
   * it as the notebook user. Returns where it went, relative to the home.
   */
  async place(staged: string, rel: string): Promise<string> {
    const relDir = parentOf(rel);
    let name: string;
    try {
      name = await this.options.userFiles.place(staged, this.options.home, relDir, restoredNames(path.posix.basename(rel)));
    } catch (err) {
      const refusal = pathRefusal(err);
      throw refusal instanceof WorkspaceError ? refusal : snapshotsUnavailable(`Moving the restored files into the home failed: ${(err as Error).message}`);
    }
    return relDir ? `${relDir}/${name}` : name;
  }

  /**
   * A fresh folder in the staging area (in the root-only state directory),
   * the notebook user's, for restic to restore into as that user.
   */
  private stagingFolder(): string {
    const staging = fs.mkdtempSync(path.join(this.options.stagingDir, 'r-'));
    // Just made, and empty: lchown of the one folder.
    giveToUser(staging, this.options.runAs);
    return staging;
  }

  /** Removes a staging folder, as the user (restic, as the user, filled it). */
  private async removeStaging(staging: string): Promise<void> {
    try {
      await this.options.userFiles.removeFolder(staging);
    } catch (err) {
      this.options.log.warn('could not remove a restore staging folder', { staging, error: (err as Error).message });
    }
  }

  /**
   * Restores into staging and hands back where the snapshot's home lies in
   * it. restic runs as the user and writes only inside the staging folder,
   * which the user's own processes cannot reach.
   */
  private async stage(snap: StagedSnapshot, rel: string): Promise<{ staging: string; stagedHome: string }> {
    const staging = this.stagingFolder();
    const base = snap.paths[0];
    // restic makes its --target absolute, and runs in the snapshot folder, apart from the staging area. So it
    // gets the staging area open, as fd 3, and restores to /proc/self/fd/3/r-…: a path the user cannot reach by
    // name (no folder above it is the user's to pass), while restic's own /proc/self is always its own.
    const area = this.options.runAs ? fs.openSync(this.options.stagingDir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY) : null;
    const target = area !== null ? path.join('/proc/self/fd/3', path.basename(staging)) : staging;
    const args = ['restore', snap.id, '--target', target];
    if (rel) {
      args.push('--include', escapeGlob(path.posix.join(base, rel)));
    }
    try {
      await this.options.restore(args, area !== null ? [area] : []);
    } catch (err) {
      await this.removeStaging(staging);
      throw err;
    } finally {
      if (area !== null) {
        fs.closeSync(area);
      }
    }
    const stagedHome = path.join(staging, base);
    if (!this.options.runAs && fs.existsSync(stagedHome)) {
      // restic as root restores the owners recorded; the sidecar's own user gets them (with a user, restic as that user made them theirs).
      giveToUser(stagedHome, null);
    }
    return { staging, stagedHome };
  }
}
