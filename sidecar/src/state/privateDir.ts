import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StartupError } from '../errors';

/**
 * A fresh private folder under the system's temporary folder, for a socket
 * and the few files Jupyter must read. mkdtemp picks an unpredictable name
 * and creates it 0700, so nobody can plant it or a symlink in its place; its
 * type, owner and mode are still checked after the fact.
 */
export function makePrivateDir(prefix: string, owner?: { uid: number; gid: number }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  if (owner) {
    fs.chownSync(dir, owner.uid, owner.gid);
  }
  const st = fs.lstatSync(dir);
  const expectedUid = owner?.uid ?? process.getuid?.() ?? st.uid;
  if (!st.isDirectory() || st.isSymbolicLink() || st.uid !== expectedUid || (st.mode & 0o077) !== 0) {
    throw new StartupError(`The private folder ${dir} is not a directory of ours with mode 0700; refusing to use it.`);
  }
  return dir;
}
