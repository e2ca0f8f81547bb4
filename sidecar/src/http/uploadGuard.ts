import type * as http from 'node:http';
import { WorkspaceError } from '../errors';
import { formatBytes } from '../snapshots/service';

export interface UploadGuardOptions {
  /** Where Jupyter's Contents API lives, e.g. "/user/alice/api/contents/". */
  contentsPrefix: string;
  capBytes: number;
  /** The home's size as last measured, or null before the first measurement. */
  usedBytes: () => number | null;
}

/**
 * Refuses, at the front door, a Contents API upload that would take the home
 * over its cap: 413 with a message JupyterLab shows in its upload error. Only
 * PUTs to the Contents API are looked at, and only their Content-Length: the
 * body is never read here, so the hot path stays a string compare. The body
 * is JSON around the file (base64 for binaries: 4/3 of the bytes), so 3/4 of
 * its length is a size the file will reach at least; a save that replaces a
 * file is counted in full, which errs on the side of refusing only what
 * surely crosses the cap when the home is already full.
 */
export function createUploadGuard(options: UploadGuardOptions): (req: http.IncomingMessage) => WorkspaceError | null {
  const { contentsPrefix, capBytes } = options;
  return req => {
    if (req.method !== 'PUT' || !req.url?.startsWith(contentsPrefix)) {
      return null;
    }
    const length = Number(req.headers['content-length']);
    const used = options.usedBytes();
    if (!Number.isFinite(length) || used === null) {
      return null;
    }
    const atLeast = Math.floor((length * 3) / 4);
    if (used + atLeast <= capBytes) {
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
