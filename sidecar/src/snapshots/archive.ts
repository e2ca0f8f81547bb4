import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { ZipFile } from 'yazl';
import { globToRegExp } from './service';

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
    const entries = await fs.promises.readdir(dir, { withFileTypes: true });
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
