import * as fs from 'node:fs';
import * as path from 'node:path';
import { helperFailure, runHelper } from '../jupyter/helperProcess';
import { RunAs } from '../jupyter/launch';

/**
 * Putting files into the home and taking them out, as the snapshot restores
 * and the reset do it. Root never resolves a path inside the home by name:
 * every mkdir, free-name check, rename, copy and delete there runs in a
 * helper as the notebook user (jupyter/helperProcess.ts), so a folder the
 * user swaps for a link mid-way can only lead it where the user could write
 * anyway. The other side of each move is a work area: a root-owned folder
 * (0711) in the root-only state directory, the helper's working folder,
 * named by relative paths; the user's own processes cannot reach it.
 */

/** Whether two existing paths lie on one filesystem (a rename between them is atomic). */
export function sameFilesystem(a: string, b: string): boolean {
  return fs.statSync(a).dev === fs.statSync(b).dev;
}

/**
 * Gives a tree to the notebook user (lchown: links themselves, never their
 * targets). Only for trees in the root-only state directory, which the user
 * cannot reach, so nothing can be swapped in during the walk. A no-op
 * unless the sidecar is root.
 */
export function giveToUser(target: string, runAs: RunAs | null): void {
  if (process.getuid?.() !== 0) {
    return;
  }
  const uid = runAs?.user.uid ?? 0;
  const gid = runAs?.user.gid ?? 0;
  const walk = (p: string): void => {
    const st = fs.lstatSync(p);
    if (st.uid !== uid || st.gid !== gid) {
      fs.lchownSync(p, uid, gid);
    }
    if (st.isDirectory()) {
      for (const name of fs.readdirSync(p)) {
        walk(path.join(p, name));
      }
    }
  };
  walk(target);
}

/** Whether an entry exists, without following a link. Only for paths outside the home (see above). */
export function exists(p: string): boolean {
  return fs.lstatSync(p, { throwIfNoEntry: false }) !== undefined;
}

/**
 * The operations, in POSIX sh over coreutils, run as the user. `$1` names
 * one; the rest are its arguments (home and folders absolute, work-area
 * paths relative to the working folder). Exit 10/11: a folder on the way is
 * a link / not a folder (its path relative to the home on stderr).
 */
const OPS = String.raw`
set -f
umask 022
op=$1; shift
free() { [ ! -e "$1" ] && [ ! -L "$1" ]; }
# rmtrees PATH...: deleted. Read-only folders (a Go module cache) keep their entries, so on failure they are
# opened up (never through a link) and deleted again; a tree that changes under rm (the user's own doing) gets
# three tries.
rmtrees() {
  rm -rf -- "$@" 2>/dev/null && return 0
  for p in "$@"; do
    tries=1
    while ! free "$p"; do
      [ -L "$p" ] || chmod -R u+rwX -- "$p" 2>/dev/null
      rm -rf -- "$p" 2>/dev/null && break
      [ $tries -lt 3 ] || { rm -rf -- "$p"; return 1; }
      tries=$((tries + 1))
    done
  done
}
# parents HOME REL_DIR MAKE: every folder on the way to REL_DIR is a real folder (made when MAKE=1).
parents() {
  dir=$1
  relp=
  IFS=/
  for part in $2; do
    IFS=' '
    dir=$dir/$part
    if [ -z "$relp" ]; then relp=$part; else relp=$relp/$part; fi
    if [ -L "$dir" ]; then printf '%s' "$relp" >&2; exit 10; fi
    if [ -e "$dir" ]; then
      [ -d "$dir" ] || { printf '%s' "$relp" >&2; exit 11; }
    elif [ "$3" = 1 ]; then
      mkdir -- "$dir" || exit 1
    fi
    IFS=/
  done
  IFS=' '
}
case $op in
check)
  parents "$1" "$2" 0
  ;;
place)
  # place SRC HOME REL_DIR NAME...: SRC to the first free NAME in REL_DIR, never over anything; prints the name.
  src=$1; home=$2; rel=$3; shift 3
  parents "$home" "$rel" 1
  for name in "$@"; do
    target=$dir/$name
    if free "$target"; then
      mv -n -T -- "$src" "$target" || exit 1
      if free "$src"; then printf '%s' "$name"; exit 0; fi
    fi
  done
  echo "no free name for the restored entry" >&2; exit 12
  ;;
out)
  # out HOME ASIDE NAME...: the entries HOME/NAME moved into the folder ASIDE ("": deleted).
  home=$1; aside=$2; shift 2
  n=$#
  while [ "$n" -gt 0 ]; do set -- "$@" "$home/$1"; shift; n=$((n - 1)); done
  [ $# -gt 0 ] || exit 0
  if [ -z "$aside" ]; then rmtrees "$@" || exit 1; exit 0; fi
  mv -n --target-directory="$aside" -- "$@" || exit 1
  for p in "$@"; do free "$p" || { echo "$p: its name is already taken in the folder it was to be moved to" >&2; exit 12; }; done
  ;;
in)
  # in FROM TO NAME...: the entries FROM/NAME moved into the folder TO, leaving out names TO already has.
  from=$1; to=$2; shift 2
  n=$#
  while [ "$n" -gt 0 ]; do free "$to/$1" && set -- "$@" "$from/$1"; shift; n=$((n - 1)); done
  [ $# -gt 0 ] || exit 0
  mv -n --target-directory="$to" -- "$@" || exit 1
  ;;
back)
  # back FROM TO SUFFIX NAME...: each FROM/NAME to TO/NAME, or to TO/NAME+SUFFIX when NAME is taken there;
  # prints each name that took the suffix, one a line.
  from=$1; to=$2; suffix=$3; shift 3
  for name in "$@"; do
    target=$name
    free "$to/$target" || target=$name$suffix
    mv -n -T -- "$from/$name" "$to/$target" || exit 1
    free "$from/$name" || { echo "both $name and $name$suffix are taken" >&2; exit 12; }
    [ "$target" = "$name" ] || printf '%s\n' "$name"
  done
  ;;
copyin)
  # copyin FROM TO NAME...: the entries FROM/NAME copied (cp -a) into the folder TO.
  from=$1; to=$2; shift 2
  n=$#
  while [ "$n" -gt 0 ]; do set -- "$@" "$from/$1"; shift; n=$((n - 1)); done
  [ $# -gt 0 ] || exit 0
  cp -a --target-directory="$to" -- "$@" || exit 1
  ;;
remove)
  [ $# -gt 0 ] || exit 0
  rmtrees "$@" || exit 1
  ;;
tarcopy)
  # tarcopy FROM TO TAR_OPTION...: FROM's contents copied into TO (tar, links as links, modes kept).
  # Both tars' statuses are collected (sh has no pipefail); 1 ("a file changed as it was read") is fine.
  from=$1; to=$2; shift 2
  exec 4>&1
  codes=$( { { tar -C "$from" "$@" -cf - . 3>&- 4>&-; echo "c$?" >&3; } | { tar -C "$to" -xpf - 3>&- 4>&-; echo "x$?" >&3; }; } 3>&1 1>&4 )
  for c in $codes; do
    case $c in c0|c1|x0|x1) ;; *) exit 1 ;; esac
  done
  ;;
*)
  echo "unknown operation $op" >&2; exit 2
  ;;
esac
`;

/** How many names one helper is given at a time (far below the kernel's argument limit). */
const BATCH = 500;

/** A folder on the way to a path in the home is a link, or a file: the path relative to the home. */
export class HomePathError extends Error {
  constructor(
    readonly kind: 'link' | 'file',
    readonly rel: string
  ) {
    super(kind === 'link' ? `"${rel}" is a symbolic link` : `"${rel}" is a file`);
    this.name = 'HomePathError';
  }
}

/**
 * File operations between a work area and the home, each in a helper run
 * as the notebook user (or as the sidecar's own user when there is none),
 * with the work area as its working folder.
 */
export class UserFiles {
  constructor(
    private readonly runAs: RunAs | null,
    /** The work area: root's, 0711, in the root-only state directory. */
    readonly workDir: string,
    /** The longest one operation may take (copies across filesystems of a 3 GB home). */
    private readonly timeoutMs = 3_600_000
  ) {}

  /** A path inside the work area as the helper names it (relative); others as they are. */
  private name(p: string): string {
    const rel = path.relative(this.workDir, p);
    return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : p;
  }

  private async run(op: string, args: string[], what: string): Promise<string> {
    const result = await runHelper({
      program: '/bin/sh',
      // -p: dash otherwise resets its effective ids to the real ones (65534) when they differ, as they do here.
      args: ['-p', '-c', OPS, 'gpu-workspace-files', op, ...args],
      runAs: this.runAs,
      cwd: this.workDir,
      timeoutMs: this.timeoutMs
    });
    if (result.code === 10 || result.code === 11) {
      throw new HomePathError(result.code === 10 ? 'link' : 'file', result.stderr.trim());
    }
    if (result.code !== 0) {
      throw new Error(helperFailure(result, what));
    }
    return result.stdout;
  }

  private async batched(op: string, lead: string[], names: string[], what: string): Promise<void> {
    for (let i = 0; i < names.length; i += BATCH) {
      await this.run(op, [...lead, ...names.slice(i, i + BATCH)], what);
    }
  }

  /** Checks that every existing folder on the way to `relDir` in the home is a real folder, not a link (HomePathError). */
  async checkParents(home: string, relDir: string): Promise<void> {
    await this.run('check', [home, relDir], 'checking the path');
  }

  /**
   * Moves `staged` (in the work area) to the first free name of `names` in
   * the home's folder `relDir` (made, owned by the user, when missing),
   * never over anything. Returns the name used.
   */
  async place(staged: string, home: string, relDir: string, names: string[]): Promise<string> {
    return await this.run('place', [this.name(staged), home, relDir, ...names], 'moving the restored files into the home');
  }

  /** Moves the home's entries `names` into the work-area folder `aside`, or deletes them when `aside` is null. */
  async moveOut(home: string, names: string[], aside: string | null): Promise<void> {
    await this.batched('out', [home, aside === null ? '' : this.name(aside)], names, aside === null ? 'deleting from the home' : 'moving out of the home');
  }

  /** Moves the entries `names` of folder `from` into folder `to`, leaving out names `to` already has. */
  async moveIn(from: string, to: string, names: string[]): Promise<void> {
    await this.batched('in', [this.name(from), this.name(to)], names, 'moving files into place');
  }

  /**
   * Moves the entries `names` of folder `from` into folder `to`, each beside
   * a taken name as `name + suffix`; returns the names that took the suffix.
   */
  async moveBack(from: string, to: string, names: string[], suffix: string): Promise<string[]> {
    const renamed: string[] = [];
    for (let i = 0; i < names.length; i += BATCH) {
      const out = await this.run('back', [this.name(from), this.name(to), suffix, ...names.slice(i, i + BATCH)], 'moving files back');
      renamed.push(...out.split('\n').filter(Boolean));
    }
    return renamed;
  }

  /** Copies (cp -a) the entries `names` of folder `from` into folder `to` (all known to be free there). */
  async copyIn(from: string, to: string, names: string[]): Promise<void> {
    await this.batched('copyin', [this.name(from), this.name(to)], names, 'copying files into the home');
  }

  /**
   * Copies the contents of folder `from` (the home) into the existing folder
   * `to`, leaving out names matching `excludes` at any depth (tar's
   * component-wise globs: *, ?, [...]).
   */
  async copyTree(from: string, to: string, excludes: string[]): Promise<void> {
    const options = ['--no-wildcards-match-slash', ...excludes.map(p => `--exclude=${p}`)];
    await this.run('tarcopy', [this.name(from), this.name(to), ...options], 'copying the home');
  }

  /**
   * Deletes a folder of the user's that lies in a work area (root's): its
   * contents as the user, then the emptied folder itself, which only root
   * may unlink from the area (rmdir: nothing to follow).
   */
  async removeFolder(dir: string): Promise<void> {
    if (!exists(dir)) {
      return;
    }
    await this.remove(fs.readdirSync(dir).map(name => path.join(dir, name)));
    fs.rmdirSync(dir);
  }

  /** Deletes trees (work-area folders, or entries of the home) as the user. */
  async remove(paths: string[]): Promise<void> {
    const present = paths.map(p => this.name(p));
    if (present.length) {
      await this.batched('remove', [], present, 'deleting');
    }
  }
}
