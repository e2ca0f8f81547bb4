import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { ZipFile } from 'yazl';
import { startHelper } from '../jupyter/helperProcess';
import { RunAs } from '../jupyter/launch';
import { globToRegExp } from '../glob';

/**
 * Streams the home folder as a zip (yazl: files are opened one at a time as
 * the zip is written, zip64 beyond 4 GB), so a 3 GB home never sits in
 * memory. Symbolic links are left out: following one could put files from
 * outside the home in the archive. Excluded names (caches) are left out too.
 */
export function streamHomeZip(home: string, exclude: string[], out: Writable): Promise<void> {
  const patterns = exclude.map(globToRegExp);
  const zip = new ZipFile();
  const walk = async (dir: string, rel: string): Promise<void> => {
    let entries: fs.Dirent[];
    try {
      entries = await fs.promises.readdir(dir, { withFileTypes: true });
    } catch (err) {
      // What the user cannot read is left out of the zip rather than failing it.
      if ((err as NodeJS.ErrnoException).code === 'EACCES') {
        return;
      }
      throw err;
    }
    if (!entries.length && rel) {
      zip.addEmptyDirectory(rel);
    }
    for (const entry of entries) {
      if (patterns.some(p => p.test(entry.name))) {
        continue;
      }
      const abs = path.join(dir, entry.name);
      const name = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        await walk(abs, name);
      } else if (entry.isFile()) {
        const readable = await fs.promises.access(abs, fs.constants.R_OK).then(
          () => true,
          () => false
        );
        if (!readable) {
          continue;
        }
        const st = await fs.promises.lstat(abs);
        zip.addFile(abs, name, { mtime: st.mtime, mode: st.mode });
      }
    }
  };
  return new Promise((resolve, reject) => {
    zip.outputStream.pipe(out);
    zip.outputStream.once('error', reject);
    out.once('close', () => resolve());
    out.once('error', reject);
    walk(path.resolve(home), '').then(
      () => zip.end(),
      err => {
        zip.outputStream.unpipe(out);
        reject(err as Error);
      }
    );
  });
}

/**
 * The zip for a download: written in this process when the sidecar runs as
 * the notebook user itself; as that user, in a helper process
 * (jupyter/helperProcess.ts), when the sidecar is root (a file swapped for a
 * link to /etc/shadow between listing and reading must not end up in the
 * user's zip).
 */
export function streamHomeZipAs(runAs: RunAs | null, home: string, exclude: string[], out: Writable): Promise<void> {
  if (!runAs) {
    return streamHomeZip(home, exclude, out);
  }
  const worker = path.join(__dirname, 'archiveMain.js');
  const helper = startHelper({ program: process.execPath, args: [worker, home, JSON.stringify(exclude)], runAs, cwd: '/' });
  const { child } = helper;
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => (stderr += d.slice(0, 4096)));
  child.stdout?.pipe(out);
  // A download cut by the browser stops the worker.
  out.once('close', () => helper.interrupt());
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', code => (code === 0 ? resolve() : reject(new Error(`the zip could not be written: ${stderr.trim() || `exit ${code}`}`))));
  });
}
