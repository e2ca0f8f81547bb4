import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { RunAs } from '../jupyter/launch';
import { giveToUser, UserFiles } from '../snapshots/homeFiles';
import { globToRegExp } from '../glob';

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
async function copyFileNoFollow(src: string, dest: string, mode: number, buffer: Buffer): Promise<void> {
  const input = await fs.promises.open(src, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const output = await fs.promises.open(dest, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, mode & 0o7777);
    try {
      for (;;) {
        const { bytesRead } = await input.read(buffer, 0, COPY_CHUNK, null);
        if (bytesRead === 0) {
          break;
        }
        await output.write(buffer, 0, bytesRead);
      }
    } finally {
      await output.close();
    }
  } finally {
    await input.close();
  }
}

/**
 * Copies a tree as it is: folders, regular files and symbolic links (as
 * links, never followed), with their modes and modification times; names
 * that `skip` matches are left out at any depth, and so are sockets, pipes
 * and devices. `dest` must not exist. Owners are not copied: whoever puts
 * the copy in a home gives it to the notebook user. Asynchronous, one file
 * at a time: the front door keeps serving while a large template is copied.
 */
export async function copyTree(src: string, dest: string, skip: (name: string) => boolean = () => false): Promise<{ files: number; bytes: number }> {
  const counts = { files: 0, bytes: 0 };
  const buffer = Buffer.allocUnsafe(COPY_CHUNK);
  const walk = async (from: string, to: string, st: fs.Stats): Promise<void> => {
    if (st.isDirectory()) {
      await fs.promises.mkdir(to, { mode: 0o700 });
      for (const name of await fs.promises.readdir(from)) {
        if (skip(name)) {
          continue;
        }
        const child = path.join(from, name);
        const childSt = await fs.promises.lstat(child).catch(() => null);
        if (childSt) {
          await walk(child, path.join(to, name), childSt);
        }
      }
      await fs.promises.chmod(to, st.mode & 0o7777);
      await fs.promises.utimes(to, st.atime, st.mtime);
    } else if (st.isFile()) {
      await copyFileNoFollow(from, to, st.mode, buffer);
      await fs.promises.chmod(to, st.mode & 0o7777);
      await fs.promises.utimes(to, st.atime, st.mtime);
      counts.files += 1;
      counts.bytes += st.size;
    } else if (st.isSymbolicLink()) {
      await fs.promises.symlink(await fs.promises.readlink(from), to);
      await fs.promises.lutimes(to, st.atime, st.mtime);
    }
  };
  await walk(src, dest, await fs.promises.lstat(src));
  return counts;
}

const execFileAsync = promisify(execFile);

/** Flushes the filesystem holding `p` (syncfs): what was copied there is on the disk before the journal says so. */
export async function syncFilesystem(p: string): Promise<void> {
  await execFileAsync('sync', ['-f', p]).catch(() => undefined);
}

/**
 * The default template: the home as it was at the workspace's first start,
 * copied once into the state directory before Jupyter starts, leaving out
 * `home.exclude`'s caches. The home is read by the notebook user (tar, run
 * as a helper: a folder swapped for a link can only lead it to what the user
 * may read), into a folder of the user's in the reset's work area, which is
 * then given to root. Made there and renamed into place, so a crash in the
 * middle leaves no half template.
 */
export async function takeFirstStartTemplate(home: string, templateDir: string, excludes: string[], files: UserFiles, runAs: RunAs | null): Promise<void> {
  const partial = `${templateDir}.partial`;
  // No process of the user ever had a way into the partial copy (the tar that wrote it has ended): root may delete it.
  fs.rmSync(partial, { recursive: true, force: true });
  fs.mkdirSync(partial, { mode: 0o700 });
  giveToUser(partial, runAs);
  await files.copyTree(home, partial, excludes);
  fs.chmodSync(partial, fs.lstatSync(home).mode & 0o7777);
  giveToUser(partial, null);
  await syncFilesystem(partial);
  fs.renameSync(partial, templateDir);
}
