import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as path from 'node:path';
import { WorkspaceError } from '../errors';
import { formatBytes } from '../snapshots/service';

export interface UploadGuardOptions {
  /** Where Jupyter's Contents API lives, e.g. "/user/alice/api/contents/". */
  contentsPrefix: string;
  capBytes: number;
  /** The home folder the Contents API serves: a save over an existing file counts only what it adds. */
  home: string;
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
 * its length is a size the file will reach at least. A save over an existing
 * file counts only what it adds to that file's size: a full home must never
 * stop anyone from saving their work (the snapshot refusal and the meter say
 * the home is over its cap; losing an edit would be worse). The exception is
 * the next chunk of an upload: a PUT to a path that this guard let a 1 MiB
 * chunk through to since the last measurement (JupyterLab sends large files
 * in chunks of exactly 1 MiB but the last). The file on disk is then the part
 * sent so far, so the chunk counts in full.
 */
/** JupyterLab's upload chunk (filebrowser's CHUNK_SIZE); a body's 3/4 lands just above it, by its JSON around the content. */
const CHUNK_BYTES = 1024 * 1024;
const isChunkSized = (bytes: number): boolean => bytes >= CHUNK_BYTES && bytes <= CHUNK_BYTES + 4096;

export function createUploadGuard(options: UploadGuardOptions): (req: http.IncomingMessage) => WorkspaceError | null {
  const { contentsPrefix, capBytes } = options;
  const now = options.now ?? Date.now;
  // Uploads let through since the last measurement began: JupyterLab sends files over 1 MB in
  // 1 MB chunks, faster than the home is measured again, so they are added up here until then.
  let accepted: Array<{ at: number; bytes: number; path: string; chunk: boolean }> = [];
  const home = path.resolve(options.home);
  /** The size of the file a Contents URL names, 0 when there is none (or the URL is not a plain path in the home). */
  const existingSize = (url: string): number => {
    let rel: string;
    try {
      rel = decodeURIComponent(url.slice(contentsPrefix.length).split('?')[0]);
    } catch {
      return 0;
    }
    const target = path.resolve(home, rel);
    if (!target.startsWith(home + path.sep)) {
      return 0;
    }
    try {
      const st = fs.lstatSync(target);
      return st.isFile() ? st.size : 0;
    } catch {
      return 0;
    }
  };
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
    const target = req.url.split('?')[0];
    const nextChunk = accepted.some(a => a.path === target && a.chunk);
    const adds = nextChunk ? atLeast : Math.max(0, atLeast - existingSize(req.url));
    if (used + adds <= capBytes) {
      accepted.push({ at: now(), bytes: adds, path: target, chunk: isChunkSized(atLeast) });
      return null;
    }
    const left = Math.max(0, capBytes - used);
    return new WorkspaceError(
      413,
      `This upload (about ${formatBytes(adds)}) would take your home folder over its ${formatBytes(capBytes)} cap: ` +
        `${formatBytes(left)} is left. Delete or move large files first (Workspace → Snapshots… shows what uses the space).`,
      'too_large'
    );
  };
}
