import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { RunAs, SETPRIV } from '../jupyter/launch';

/**
 * Putting files into the home for the notebook user, as the snapshot restores
 * and the reset do it: prepared in a staging folder the user cannot reach,
 * given to the user there, then renamed into place (one filesystem) or copied
 * in by the user (another filesystem), so no link the user planted in the
 * home ever leads root's writes anywhere.
 */

/** Whether two existing paths lie on one filesystem (a rename between them is atomic). */
export function sameFilesystem(a: string, b: string): boolean {
  return fs.statSync(a).dev === fs.statSync(b).dev;
}

/** Gives a tree to the notebook user (lchown: links themselves, never their targets). A no-op unless the sidecar is root. */
export function giveToUser(target: string, runAs: RunAs | null): void {
  if (process.getuid?.() !== 0) {
    return;
  }
  const uid = runAs?.user.uid ?? 0;
  const gid = runAs?.user.gid ?? 0;
  const walk = (p: string): void => {
    fs.lchownSync(p, uid, gid);
    const st = fs.lstatSync(p);
    if (st.isDirectory()) {
      for (const name of fs.readdirSync(p)) {
        walk(path.join(p, name));
      }
    }
  };
  walk(target);
}

/**
 * Copies a staged file or folder to `target` (known to be free) across
 * filesystems, run as the notebook user (setpriv), so that a link the user
 * planted in the home can only lead the copy where that user could write
 * anyway. `staging` is the folder holding `staged`: it is opened (0711) so
 * the user can pass through it. Throws with cp's own words when it fails.
 */
export function copyInAsUser(staged: string, target: string, staging: string, runAs: RunAs | null): void {
  fs.chmodSync(staging, 0o711);
  cpAsUser(['--no-target-directory', staged, target], runAs);
}

/** How many entries one cp is given at a time (far below the kernel's argument limit). */
const CP_BATCH = 500;

/**
 * Copies staged entries into the folder `targetDir` under their own names
 * (all known to be free there), as copyInAsUser does one, with one cp per
 * few hundred entries rather than one each.
 */
export async function copyAllInAsUser(staged: string[], targetDir: string, staging: string, runAs: RunAs | null): Promise<void> {
  fs.chmodSync(staging, 0o711);
  for (let i = 0; i < staged.length; i += CP_BATCH) {
    const [file, args] = cpAsUserArgv(['--target-directory', targetDir, '--', ...staged.slice(i, i + CP_BATCH)], runAs);
    try {
      await execFileAsync(file, args, { maxBuffer: 16 * 1024 * 1024 });
    } catch (err) {
      const e = err as Error & { stderr?: string };
      throw new Error((e.stderr || e.message).trim());
    }
  }
}

const execFileAsync = promisify(execFile);

/** `cp -a ARGS`, through setpriv as the notebook user when there is one. */
function cpAsUserArgv(cpArgs: string[], runAs: RunAs | null): [string, string[]] {
  const cp = ['cp', '-a', ...cpArgs];
  return runAs && fs.existsSync(SETPRIV)
    ? [SETPRIV, [`--reuid=${runAs.user.uid}`, `--regid=${runAs.user.gid}`, '--clear-groups', '--', ...cp]]
    : [cp[0], cp.slice(1)];
}

function cpAsUser(cpArgs: string[], runAs: RunAs | null): void {
  const [file, args] = cpAsUserArgv(cpArgs, runAs);
  const r = spawnSync(file, args, { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error((r.stderr || r.error?.message || `cp exited with ${r.status}`).trim());
  }
}

/** Whether an entry exists, without following a link. */
export function exists(p: string): boolean {
  return fs.lstatSync(p, { throwIfNoEntry: false }) !== undefined;
}
