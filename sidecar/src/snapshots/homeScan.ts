import type { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { startHelper } from '../jupyter/helperProcess';
import { RunAs } from '../jupyter/launch';

export interface SpaceUser {
  /** Relative to the home folder. */
  path: string;
  bytes: number;
  kind: 'folder' | 'file';
}

export interface HomeScan {
  used_bytes: number;
  /** The largest folders (two levels deep) and files (any depth), largest first. */
  largest: SpaceUser[];
  /** What the Trash (TRASH_PATH) holds: 0 when there is none. */
  trash_bytes: number;
  /** When the measurement began. */
  scanned_at_ms: number;
}

/** Where JupyterLab's delete (send2trash, freedesktop.org's layout) keeps files when the Trash is on. */
export const TRASH_PATH = '.local/share/Trash';

/** The start of a child's stderr (du's or find's complaint), for the error message. */
function stderrOf(child: ChildProcess): () => string {
  let text = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    if (text.length < 4096) {
      text += d;
    }
  });
  return () => text.trim();
}

/** How many entries `largest` lists. */
export const LARGEST_COUNT = 10;

/**
 * The home is measured by programs run as the notebook user (helpers:
 * jupyter/helperProcess.ts). They walk the home by name; as root, a folder
 * the user swaps for a link mid-way could have them measure root's files
 * (and name them in the over-cap message). As the user they see only what
 * the user may see, which is also what restic, run as the user, snapshots.
 */
function measure(program: string, args: string[], runAs: RunAs | null): { child: ChildProcess; timedOut: () => string | null } {
  const helper = startHelper({ program, args, runAs, cwd: '/' });
  // The user can stop its own helper (SIGSTOP): a measurement never holds the snapshot queue for longer than this.
  let late = false;
  const timer = setTimeout(() => {
    late = true;
    void helper.stop(5_000);
  }, MEASURE_TIMEOUT_MS);
  timer.unref();
  void helper.exited.then(() => clearTimeout(timer));
  return { child: helper.child, timedOut: () => (late ? `${program} did not finish within ${MEASURE_TIMEOUT_MS / 60_000} minutes and was stopped` : null) };
}

/** The longest one measurement of the home may take (a 3 GB home of a million small files takes a minute or two). */
const MEASURE_TIMEOUT_MS = 30 * 60_000;

/**
 * `find -printf` of every entry: apparent size, inode, link count, type and
 * path, NUL-terminated (names may hold newlines). find, unlike du, never
 * aborts when a folder is swapped for a link under it: it reports the entry
 * it could not read and goes on.
 */
function findArgs(root: string, exclude: string[]): string[] {
  const prune = exclude.length ? ['(', ...exclude.flatMap((p, i) => (i ? ['-o', '-name', p] : ['-name', p])), ')', '-prune', '-o'] : [];
  return [root, '-xdev', ...prune, '-printf', '%s %i %n %y %P\\0'];
}

interface Walked {
  used: number;
  trash: number;
  /** Bytes of every entry at the top two levels (folders with all they hold). */
  entries: Map<string, { bytes: number; folder: boolean }>;
}

/** Runs find over the home and adds it up as du -ab would (hard links counted once). */
function walk(home: string, exclude: string[], runAs: RunAs | null, perEntry: boolean): Promise<Walked> {
  const root = path.resolve(home);
  return new Promise((resolve, reject) => {
    const { child, timedOut } = measure('find', findArgs(root, exclude), runAs);
    const seen = new Set<string>();
    const result: Walked = { used: 0, trash: 0, entries: new Map() };
    const add = (rel: string, bytes: number, folder: boolean): void => {
      const entry = result.entries.get(rel);
      if (entry) {
        entry.bytes += bytes;
      } else {
        result.entries.set(rel, { bytes, folder });
      }
    };
    const onRecord = (record: string): void => {
      // "SIZE INODE LINKS TYPE PATH": the path is the rest (it may hold spaces).
      const m = /^(\d+) (\d+) (\d+) (\S) ([\s\S]*)$/.exec(record);
      if (!m) {
        return;
      }
      const [, size, inode, links, type, rel] = m;
      if (Number(links) > 1 && type !== 'd') {
        if (seen.has(inode)) {
          return;
        }
        seen.add(inode);
      }
      const bytes = Number(size);
      result.used += bytes;
      if (rel.startsWith(TRASH_PATH) && (rel.length === TRASH_PATH.length || rel[TRASH_PATH.length] === '/')) {
        result.trash += bytes;
      }
      if (!perEntry || !rel) {
        return;
      }
      const parts = rel.split('/');
      // The entry itself (any depth for files, two levels for folders), and the folders above it up to two levels.
      if (type !== 'd' || parts.length <= 2) {
        add(rel, bytes, type === 'd');
      }
      for (let depth = 1; depth < parts.length && depth <= 2; depth++) {
        add(parts.slice(0, depth).join('/'), bytes, true);
      }
    };
    let pending = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      pending += chunk;
      let end: number;
      while ((end = pending.indexOf('\0')) >= 0) {
        onRecord(pending.slice(0, end));
        pending = pending.slice(end + 1);
      }
    });
    const stderr = stderrOf(child);
    child.once('error', reject);
    child.once('close', code => {
      // find exits 1 when some entries could not be read (one vanished mid-walk, a folder the user cannot read); the total still stands.
      if (code !== 0 && code !== 1) {
        reject(new Error(`measuring ${root} failed: ${timedOut() ?? (stderr() || `exit code ${code}`)}`));
        return;
      }
      resolve(result);
    });
  });
}

/**
 * Measures the home folder (apparent sizes, hard links once, as `du -ab`
 * counts) and finds its largest folders (two levels deep) and files (any
 * depth). Excluded names (caches) count for nothing, as they are not
 * snapshotted either; a pattern matches a name at any depth, as restic's
 * --exclude does for patterns without "/".
 */
export async function scanHome(home: string, exclude: string[], runAs: RunAs | null = null): Promise<HomeScan> {
  // The time it began: whatever changed after may or may not be counted (the upload guard adds those up itself).
  const startedAt = Date.now();
  const walked = await walk(home, exclude, runAs, true);
  const keep = (list: SpaceUser[], entry: SpaceUser): void => {
    if (list.length < LARGEST_COUNT) {
      list.push(entry);
      list.sort((a, b) => b.bytes - a.bytes);
    } else if (entry.bytes > list[list.length - 1].bytes) {
      list[list.length - 1] = entry;
      list.sort((a, b) => b.bytes - a.bytes);
    }
  };
  const largest: SpaceUser[] = [];
  for (const [rel, { bytes, folder }] of walked.entries) {
    keep(largest, { path: rel, bytes, kind: folder ? 'folder' : 'file' });
  }
  return { used_bytes: walked.used, largest, trash_bytes: walked.trash, scanned_at_ms: startedAt };
}

/** du ended by a signal (through the helper's guardian: an exit status above 128). */
class DuCrashed extends Error {}

/**
 * The home's total alone: what the check before each snapshot needs, as fast
 * as `du -sb` because it is du. du (gnulib's fts) aborts rather than go on
 * when a folder is swapped for a link under it; the total is then taken
 * with find, which does not. The per-entry scan above is run only when the
 * total is over the cap (to name the largest) or when someone looks (GET
 * home/usage).
 */
export async function homeTotal(home: string, exclude: string[], runAs: RunAs | null = null): Promise<number> {
  try {
    return await duTotal(home, exclude, runAs);
  } catch (err) {
    if (!(err instanceof DuCrashed)) {
      throw err;
    }
    return (await walk(home, exclude, runAs, false)).used;
  }
}

function duTotal(home: string, exclude: string[], runAs: RunAs | null): Promise<number> {
  const args = ['-sb', '-x', ...exclude.map(p => `--exclude=${p}`), '--', path.resolve(home)];
  return new Promise((resolve, reject) => {
    const { child, timedOut } = measure('du', args, runAs);
    let out = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (d: string) => (out += d));
    const stderr = stderrOf(child);
    child.once('error', reject);
    child.once('close', code => {
      const bytes = Number(out.split('\t')[0]);
      // Exit 1: some entry vanished or could not be read mid-scan; the total still stands.
      if ((code !== 0 && code !== 1) || !Number.isFinite(bytes)) {
        const late = timedOut();
        const E = !late && (code === null || code > 128) ? DuCrashed : Error;
        reject(new E(`du failed on ${home}: ${late ?? (stderr() || `exit code ${code}`)}`));
        return;
      }
      resolve(bytes);
    });
  });
}
