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

/**
 * A work area for helpers run as the notebook user (jupyter/helperProcess.ts):
 * `dir` is made when missing, and must be a folder of the sidecar's own
 * user, mode 0711. Helpers start in it and name what they work on by
 * relative paths; the user's own processes cannot reach it because the
 * folder above (the state directory) is the sidecar user's alone: its group
 * and other permissions are taken away here when it has any (with a notebook
 * user only: without one, nobody else's processes are kept out anyway).
 */
export function prepareWorkArea(dir: string, forUser: boolean): void {
  const parent = path.dirname(path.resolve(dir));
  const me = process.getuid?.() ?? -1;
  if (forUser) {
    const st = fs.lstatSync(parent);
    if (!st.isDirectory() || st.uid !== me) {
      throw new Error(`${parent} is not a folder of the sidecar's own user; it must be, and nobody else's, to keep the notebook user out.`);
    }
    if ((st.mode & 0o077) !== 0) {
      fs.chmodSync(parent, st.mode & 0o700);
    }
  }
  fs.mkdirSync(dir, { recursive: true, mode: 0o711 });
  const st = fs.lstatSync(dir);
  if (!st.isDirectory() || st.uid !== me) {
    throw new Error(`${dir} is not a folder of the sidecar's own user; it is left alone.`);
  }
  if ((st.mode & 0o777) !== 0o711) {
    fs.chmodSync(dir, 0o711);
  }
}
