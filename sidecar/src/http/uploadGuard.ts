import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as path from 'node:path';
import { WorkspaceError } from '../errors';
import { formatBytes } from '@jupyterlab-gpu-workspace/api';
import type { HomeMeasurement } from '../snapshots/service';

export interface UploadGuardOptions {
  /** Where Jupyter's Contents API lives, e.g. "/user/alice/api/contents/". */
  contentsPrefix: string;
  capBytes: number;
  /** The home folder the Contents API serves: a save over an existing file counts only what it adds. */
  home: string;
  /** The home's size as last measured, when that measurement started and when it ended (ms), or null before the first. */
  usage: () => HomeMeasurement | null;
  /** What uses the space, as last measured in full ("" when not known yet): the refusal names it. */
  hint?: () => string;
  now?: () => number;
}

/**
 * What the front door does with a request to Jupyter, as far as the cap goes:
 * nothing (`null`: not an upload), refuse it now, or let it through.
 */
export type UploadVerdict = null | { refuse: WorkspaceError } | { admitted: UploadAdmission };

/** An upload let through: it counts as under way until the exchange ends, then as written if Jupyter said so. */
export interface UploadAdmission {
  /** A body of unknown length (chunked) may carry at most this; past it the upload is cut with `overLimit()`. */
  limit?: { maxBodyBytes: number; overLimit: () => WorkspaceError };
  /**
   * The exchange ended: `written` when Jupyter answered with success (the
   * file is on disk from then on), `bodyBytes` what the body held.
   */
  settle(written: boolean, bodyBytes: number): void;
}

/**
 * Refuses, at the front door, a Contents API upload that would take the home
 * over its cap: 413 with a message JupyterLab shows in its upload error. Only
 * PUTs to the Contents API are looked at, and only their length: the body is
 * never read here, so the hot path stays a string compare. The body is JSON
 * around the file (base64 for binaries: 4/3 of the bytes), so 3/4 of its
 * length is a size the file will reach at least. A body sent without a
 * Content-Length (chunked) is let through with a byte limit, counted as it
 * arrives, and cut at the cap with the same 413. A save over an existing
 * file counts only what it adds to that file's size: a full home must never
 * stop anyone from saving their work (the snapshot refusal and the meter say
 * the home is over its cap; losing an edit would be worse). The exception is
 * the next chunk of an upload: a PUT to a path that this guard lately let a
 * 1 MiB chunk through to (JupyterLab sends large files in chunks of exactly
 * 1 MiB but the last), whether or not the home was measured in between. The
 * file on disk is then the part sent so far, so the chunk counts in full.
 */
/** JupyterLab's upload chunk (filebrowser's CHUNK_SIZE); a body's 3/4 lands just above it, by its JSON around the content. */
const CHUNK_BYTES = 1024 * 1024;
const isChunkSized = (bytes: number): boolean => bytes >= CHUNK_BYTES && bytes <= CHUNK_BYTES + 4096;
/**
 * Writes this small always go through, at the cap too: a new notebook, a
 * folder (JupyterLab creates one with a PUT), a small save. Refusing them
 * would fail odd everyday actions, while the cap's point is the large
 * upload; the meter and the snapshot refusal say the home is over.
 */
const ALWAYS_BYTES = 64 * 1024;
/** How long a path that got a chunk is remembered as an upload under way (JupyterLab sends the next at once). */
const CHUNK_MEMORY_MS = 5 * 60_000;

export function createUploadGuard(options: UploadGuardOptions): (req: http.IncomingMessage) => UploadVerdict {
  const { contentsPrefix, capBytes } = options;
  const now = options.now ?? Date.now;
  // The guard counts from the newest measurement that no upload overlapped ("base"), plus the uploads
  // let through since: JupyterLab sends files over 1 MB in 1 MB chunks, faster than the home is
  // measured again. A measurement taken while an upload was being written may or may not hold it
  // (the scan may read the file before or after Jupyter writes it), so it is not used for counting:
  // adding the upload to it could count the chunk twice and refuse one that fits, leaving it out
  // could let one through past the cap. Uploads under way count in full until Jupyter answers. So
  // while uploads follow one another the base stays put: space freed meanwhile counts once they end.
  let base: HomeMeasurement | null = null;
  /** Uploads let through since `base` began: under way (`to` null) or written (dated when Jupyter answered). */
  let uploads: Array<{ bytes: number; from: number; to: number | null }> = [];
  const overlaps = (m: HomeMeasurement): boolean => uploads.some(u => u.from <= m.until && (u.to === null || u.to >= m.at));
  /** Takes a newer measurement as the base if no upload overlapped it; drops the uploads it holds. */
  const rebase = (m: HomeMeasurement): void => {
    if (base !== null && (m.at <= base.at || overlaps(m))) {
      return;
    }
    base = m;
    uploads = uploads.filter(u => u.to === null || u.to >= m.at);
  };
  // Paths a 1 MiB chunk went to lately: the next PUT there is the next chunk, whatever was measured
  // since (the file on disk is then the part sent so far, already counted: the chunk counts in full).
  const chunked = new Map<string, number>();
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
  const refusal = (adds: number, left: number, atLeast = false): WorkspaceError =>
    new WorkspaceError(
      413,
      `This upload (${atLeast ? 'more than' : 'about'} ${formatBytes(adds)}) would take your home folder over its ${formatBytes(capBytes)} cap: ` +
        `${formatBytes(left)} is left. Delete or move large files first (Workspace → Snapshots… shows what uses the space).` +
        (options.hint?.() ? ` ${options.hint()}` : ''),
      'too_large'
    );
  return req => {
    if (req.method !== 'PUT' || !req.url?.startsWith(contentsPrefix)) {
      return null;
    }
    const measured = options.usage();
    if (measured !== null) {
      rebase(measured);
    }
    if (base === null) {
      return null;
    }
    const used = base.bytes + uploads.reduce((sum, u) => sum + u.bytes, 0);
    const target = req.url.split('?')[0];
    for (const [p, at] of chunked) {
      if (now() - at > CHUNK_MEMORY_MS) {
        chunked.delete(p);
      }
    }
    const nextChunk = chunked.has(target);
    const existing = nextChunk ? 0 : existingSize(req.url);
    const left = Math.max(0, capBytes - used);
    /** Counts the upload as under way now, and as written (dated when Jupyter answered) once it is. */
    const admit = (declaredAdds: number, limit?: UploadAdmission['limit']): UploadAdmission => {
      const record: (typeof uploads)[number] = { bytes: declaredAdds, from: now(), to: null };
      uploads.push(record);
      let settled = false;
      return {
        limit,
        settle: (written, bodyBytes) => {
          if (settled) {
            return;
          }
          settled = true;
          if (!written) {
            uploads = uploads.filter(u => u !== record);
            return;
          }
          const atLeast = Math.floor((bodyBytes * 3) / 4);
          record.bytes = Math.max(0, atLeast - existing);
          record.to = now();
          if (isChunkSized(atLeast)) {
            chunked.set(target, now());
          } else {
            chunked.delete(target);
          }
        }
      };
    };
    const declared = req.headers['content-length'];
    if (declared === undefined) {
      // The file may grow to 3/4 of the body: the body may reach 4/3 of what is left (plus what it replaces).
      const maxBodyBytes = Math.max(ALWAYS_BYTES, Math.floor(((left + existing) * 4) / 3) + 1);
      return { admitted: admit(0, { maxBodyBytes, overLimit: () => refusal(Math.floor((maxBodyBytes * 3) / 4) - existing, left, true) }) };
    }
    const length = Number(declared);
    if (!Number.isFinite(length)) {
      return null;
    }
    const atLeast = Math.floor((length * 3) / 4);
    const adds = Math.max(0, atLeast - existing);
    if (used + adds <= capBytes || length <= ALWAYS_BYTES) {
      return { admitted: admit(adds) };
    }
    return { refuse: refusal(adds, left) };
  };
}
