/**
 * A Unix account for the notebook user, for tests of the trust boundary
 * (CI runs as root). Accounts are made once and left for later runs:
 * useradd is slow.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { makeTempDirs, TempDirs } from './sidecar';

export const isRoot = process.getuid?.() === 0;
export const NEEDS_ROOT = isRoot ? false : 'needs root to create a notebook user (CI runs as root)';

function exists(db: string, key: string): boolean {
  try {
    execFileSync('getent', [db, key], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Creates `user` (and `group`, when given) unless they exist; returns the user's uid and gid. */
export function ensureAccount(user: string, group?: string): { uid: number; gid: number } {
  if (group !== undefined && !exists('group', group)) {
    execFileSync('groupadd', ['--system', group]);
  }
  if (!exists('passwd', user)) {
    // No home: the workspace's home folder is the sidecar's to create, as in production.
    execFileSync('useradd', ['--no-create-home', '--shell', '/bin/bash', user]);
  }
  const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

/** Temp dirs the notebook user can traverse to its home (the state directory stays the sidecar's, 0700). */
export function dirsForUser(): TempDirs {
  const dirs = makeTempDirs();
  fs.chmodSync(dirs.root, 0o755);
  fs.rmSync(dirs.home, { recursive: true, force: true });
  return dirs;
}
