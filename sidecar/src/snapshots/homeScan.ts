import { ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import * as path from 'node:path';

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
  scanned_at_ms: number;
}

/** The start of a child's stderr (du's complaint), for the error message. */
function stderrOf(child: ChildProcessByStdio<null, Readable, Readable>): () => string {
  let text = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    if (text.length < 4096) {
      text += d;
    }
  });
  return () => text.trim();
}

/** How many entries `largest` lists. */
export const LARGEST_COUNT = 10;

/**
 * Measures the home folder with `du -ab` (apparent sizes, hard links once):
 * as fast as `du -sb` because it is du, and its per-entry lines give the
 * largest folders and files in the same pass. Excluded names (caches) count
 * for nothing, as they are not snapshotted either. du's --exclude matches a
 * name at any depth, as restic's --exclude does for patterns without "/".
 */
export function scanHome(home: string, exclude: string[]): Promise<HomeScan> {
  const root = path.resolve(home);
  const args = ['-ab', '-x', ...exclude.map(p => `--exclude=${p}`), '--', root];
  return new Promise((resolve, reject) => {
    const child = spawn('du', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let used = 0;
    // The heaviest few folders and files, kept sorted.
    const folders: SpaceUser[] = [];
    const files: SpaceUser[] = [];
    const keep = (list: SpaceUser[], entry: SpaceUser): void => {
      if (list.length < LARGEST_COUNT) {
        list.push(entry);
        list.sort((a, b) => b.bytes - a.bytes);
      } else if (entry.bytes > list[list.length - 1].bytes) {
        list[list.length - 1] = entry;
        list.sort((a, b) => b.bytes - a.bytes);
      }
    };
    const entries = new Map<string, number>();
    let pending = '';
    const onLine = (line: string): void => {
      const tab = line.indexOf('\t');
      if (tab < 0) {
        return;
      }
      const bytes = Number(line.slice(0, tab));
      const abs = line.slice(tab + 1);
      if (abs === root) {
        used = bytes;
        return;
      }
      entries.set(abs.slice(root.length + 1), bytes);
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        onLine(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
    });
    const stderr = stderrOf(child);
    child.once('error', reject);
    child.once('close', code => {
      if (pending) {
        onLine(pending);
      }
      // du exits 1 when some entries could not be read (a file vanished mid-scan); the total still stands.
      if (code !== 0 && code !== 1) {
        reject(new Error(`du failed on ${root}: ${stderr() || `exit code ${code}`}`));
        return;
      }
      // du lists folders (with their totals) and files alike; a path is a folder when another lies inside it
      // (an empty folder passes for a file, which is harmless: it weighs nothing).
      const parents = new Set<string>();
      for (const rel of entries.keys()) {
        const dir = path.dirname(rel);
        if (dir !== '.') {
          parents.add(dir);
        }
      }
      for (const [rel, bytes] of entries) {
        if (parents.has(rel)) {
          if (rel.split('/').length <= 2) {
            keep(folders, { path: rel, bytes, kind: 'folder' });
          }
        } else {
          keep(files, { path: rel, bytes, kind: 'file' });
        }
      }
      const largest = [...folders, ...files].sort((a, b) => b.bytes - a.bytes).slice(0, LARGEST_COUNT);
      resolve({ used_bytes: used, largest, scanned_at_ms: Date.now() });
    });
  });
}

/**
 * The home's total alone (`du -sb`): what the check before each snapshot
 * needs. The per-entry scan above is run only when the total is over the cap
 * (to name the largest) or when someone looks (GET home/usage).
 */
export function homeTotal(home: string, exclude: string[]): Promise<number> {
  const args = ['-sb', '-x', ...exclude.map(p => `--exclude=${p}`), '--', path.resolve(home)];
  return new Promise((resolve, reject) => {
    const child = spawn('du', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (out += d));
    const stderr = stderrOf(child);
    child.once('error', reject);
    child.once('close', code => {
      const bytes = Number(out.split('\t')[0]);
      // Exit 1: some entry vanished or could not be read mid-scan; the total still stands.
      if ((code !== 0 && code !== 1) || !Number.isFinite(bytes)) {
        reject(new Error(`du failed on ${home}: ${stderr() || `exit code ${code}`}`));
        return;
      }
      resolve(bytes);
    });
  });
}
