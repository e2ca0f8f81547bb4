import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { globToRegExp } from '../snapshots/service';

/** Whether a name matches one of the `home.exclude` globs (caches: neither snapshotted nor part of a template). */
export function excludedBy(excludes: string[]): (name: string) => boolean {
  const patterns = excludes.map(globToRegExp);
  return name => patterns.some(p => p.test(name));
}

const COPY_CHUNK = 1 << 20;

/**
 * Copies one regular file without following a link at `src` (O_NOFOLLOW):
 * the home is the user's, and root must not be led to read elsewhere by a
 * link swapped in after the walk looked.
 */
function copyFileNoFollow(src: string, dest: string, mode: number): void {
  const input = fs.openSync(src, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const output = fs.openSync(dest, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, mode & 0o7777);
    try {
      const buffer = Buffer.allocUnsafe(COPY_CHUNK);
      for (;;) {
        const n = fs.readSync(input, buffer, 0, COPY_CHUNK, null);
        if (n === 0) {
          break;
        }
        let written = 0;
        while (written < n) {
          written += fs.writeSync(output, buffer, written, n - written);
        }
      }
    } finally {
      fs.closeSync(output);
    }
  } finally {
    fs.closeSync(input);
  }
}

/**
 * Copies a tree as it is: folders, regular files and symbolic links (as
 * links, never followed), with their modes and modification times; names
 * that `skip` matches are left out at any depth, and so are sockets, pipes
 * and devices. `dest` must not exist. Owners are not copied: whoever puts
 * the copy in a home gives it to the notebook user.
 */
export function copyTree(src: string, dest: string, skip: (name: string) => boolean = () => false): { files: number; bytes: number } {
  const counts = { files: 0, bytes: 0 };
  const walk = (from: string, to: string, st: fs.Stats): void => {
    if (st.isDirectory()) {
      fs.mkdirSync(to, { mode: 0o700 });
      for (const name of fs.readdirSync(from)) {
        if (skip(name)) {
          continue;
        }
        const child = path.join(from, name);
        const childSt = fs.lstatSync(child, { throwIfNoEntry: false });
        if (childSt) {
          walk(child, path.join(to, name), childSt);
        }
      }
      fs.chmodSync(to, st.mode & 0o7777);
      fs.utimesSync(to, st.atime, st.mtime);
    } else if (st.isFile()) {
      copyFileNoFollow(from, to, st.mode);
      fs.chmodSync(to, st.mode & 0o7777);
      fs.utimesSync(to, st.atime, st.mtime);
      counts.files += 1;
      counts.bytes += st.size;
    } else if (st.isSymbolicLink()) {
      fs.symlinkSync(fs.readlinkSync(from), to);
      fs.lutimesSync(to, st.atime, st.mtime);
    }
  };
  walk(src, dest, fs.lstatSync(src));
  return counts;
}

/** Flushes the filesystem holding `p` (syncfs): what was copied there is on the disk before the journal says so. */
export function syncFilesystem(p: string): void {
  spawnSync('sync', ['-f', p]);
}

/**
 * The default template: the home as it was at the workspace's first start,
 * copied once into the state directory before Jupyter starts (so before the
 * user could change anything), leaving out `home.exclude`'s caches. Made in a
 * temporary folder and renamed into place, so a crash in the middle leaves
 * no half template.
 */
export function takeFirstStartTemplate(home: string, templateDir: string, excludes: string[]): void {
  const parent = path.dirname(templateDir);
  fs.mkdirSync(parent, { recursive: true, mode: 0o700 });
  const partial = `${templateDir}.partial`;
  fs.rmSync(partial, { recursive: true, force: true });
  copyTree(home, partial, excludedBy(excludes));
  syncFilesystem(partial);
  fs.renameSync(partial, templateDir);
}
