import type * as http from 'node:http';
import { WorkspaceError } from '../errors';
import { formatBytes } from '../snapshots/service';

export interface UploadGuardOptions {
  /** Where Jupyter's Contents API lives, e.g. "/user/alice/api/contents/". */
  contentsPrefix: string;
  capBytes: number;
  /** The home's size as last measured and when that measurement started (ms), or null before the first. */
  usage: () => { bytes: number; at: number } | null;
  now?: () => number;
}

/**
 * Refuses, at the front door, a Contents API upload that would take the home
 * over its cap: 413 with a message JupyterLab shows in its upload error. Only
 * PUTs to the Contents API are looked at, and only their Content-Length: the
 * body is never read here, so the hot path stays a string compare. The body
 * is JSON around the file (base64 for binaries: 4/3 of the bytes), so 3/4 of
 * its length is a size the file will reach at least; a save that replaces a
 * file is counted in full, which errs on the side of refusing only what
 * surely crosses the cap when the home is already full. (A save counted
 * twice within one measurement interval errs the same way, only near the cap.)
 */
export function createUploadGuard(options: UploadGuardOptions): (req: http.IncomingMessage) => WorkspaceError | null {
  const { contentsPrefix, capBytes } = options;
  const now = options.now ?? Date.now;
  // Uploads let through since the last measurement began: JupyterLab sends files over 1 MB in
  // 1 MB chunks, faster than the home is measured again, so they are added up here until then.
  let accepted: Array<{ at: number; bytes: number }> = [];
  return req => {
    if (req.method !== 'PUT' || !req.url?.startsWith(contentsPrefix)) {
      return null;
    }
    const length = Number(req.headers['content-length']);
    const usage = options.usage();
    if (!Number.isFinite(length) || usage === null) {
      return null;
    }
    accepted = accepted.filter(a => a.at >= usage.at);
    const used = usage.bytes + accepted.reduce((sum, a) => sum + a.bytes, 0);
    const atLeast = Math.floor((length * 3) / 4);
    if (used + atLeast <= capBytes) {
      accepted.push({ at: now(), bytes: atLeast });
      return null;
    }
    const left = Math.max(0, capBytes - used);
    return new WorkspaceError(
      413,
      `This upload (about ${formatBytes(atLeast)}) would take your home folder over its ${formatBytes(capBytes)} cap: ` +
        `${formatBytes(left)} is left. Delete or move large files first (Workspace → Snapshots… shows what uses the space).`,
      'too_large'
    );
  };
}
