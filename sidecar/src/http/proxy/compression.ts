/**
 * What the front door compresses, and how. Node's own zlib (brotli and gzip):
 * it is fast native code, already in every Node, and needs no new dependency.
 *
 * Two speeds: bodies compressed once and kept (hashed static assets) use a
 * brotli quality that still streams faster than most links while the first
 * browser waits; bodies compressed per request (HTML, JSON, CSS) use fast levels.
 */
import * as zlib from 'node:zlib';
import type { Coding } from './encoding';
import { rawHeader, RawHeaders } from './headers';

export type CompressedCoding = Exclude<Coding, 'identity'>;

/** Speed class: 'kept' for bodies compressed once and cached, 'fresh' for every-request bodies. */
export type Effort = 'kept' | 'fresh';

/*
 * Levels, measured on this project's JupyterLab build (2 cores): jlab_core
 * (2.5 MB of JS) takes ~130 ms at brotli 5 (4.6x smaller; quality 11 takes
 * ~7 s for 5.2x), and /lab/api/settings (145 kB of JSON) ~2.7 ms at brotli 4
 * (6.2x) against ~1 ms at gzip 1 (5.0x).
 */
const BROTLI_QUALITY: Record<Effort, number> = { kept: 5, fresh: 4 };
const GZIP_LEVEL: Record<Effort, number> = { kept: 6, fresh: 5 };
/**
 * Brotli's window: 256 KiB instead of the default 4 MiB. An encoder's memory
 * grows with it (~10 MB for jlab_core at the default, ~4 MB here), and zlib's
 * thread pool leaves that high-water mark in glibc's per-thread arenas: a
 * cold JupyterLab load left the sidecar ~26 MB larger by default, ~12 MB
 * with this window. It costs under 2% in size on JupyterLab's bundles.
 */
const BROTLI_WINDOW_BITS = 18;

/** Below this, a body is compressed synchronously: cheaper than a trip to zlib's thread pool. */
export const SYNC_COMPRESS_MAX_BYTES = 16 * 1024;

/**
 * Media types worth compressing: text and the text-like formats browsers
 * fetch (scripts, JSON, SVG, source maps, fonts without their own compression).
 * Images, archives, WOFF/WOFF2 and the like are compressed already.
 */
const COMPRESSIBLE_EXACT = new Set([
  'application/javascript',
  'application/x-javascript',
  'application/ecmascript',
  'application/json',
  'application/xml',
  'application/wasm',
  'application/vnd.ms-fontobject',
  'application/x-font-ttf',
  'font/ttf',
  'font/otf',
  'image/svg+xml',
  'image/x-icon',
  'image/vnd.microsoft.icon',
  'image/bmp'
]);

/** The media type of a Content-Type value, lower-cased, without parameters. */
function mediaType(contentType: string): string {
  const semi = contentType.indexOf(';');
  return (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

export function isCompressibleType(contentType: string | undefined): boolean {
  if (!contentType) {
    return false;
  }
  const type = mediaType(contentType);
  if (type === 'text/event-stream') {
    return false; // events must reach the browser one by one, not when a compressor block fills
  }
  return type.startsWith('text/') || COMPRESSIBLE_EXACT.has(type) || type.endsWith('+json') || type.endsWith('+xml');
}

/**
 * Whether a response could be sent compressed: a full body (no range, no 204
 * or 304), a compressible type, not compressed already, and not marked
 * no-transform. Such a response varies with Accept-Encoding even when this
 * particular client gets it plain.
 */
export function isCompressible(method: string | undefined, status: number, raw: RawHeaders): boolean {
  if (method === 'HEAD' || status < 200 || status === 204 || status === 206 || status === 304) {
    return false;
  }
  const encoding = rawHeader(raw, 'content-encoding');
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
    return false;
  }
  if (rawHeader(raw, 'content-range') !== undefined) {
    return false;
  }
  if (/(^|,)\s*no-transform\s*(,|$)/i.test(rawHeader(raw, 'cache-control') ?? '')) {
    return false;
  }
  return isCompressibleType(rawHeader(raw, 'content-type'));
}

/** A streaming encoder; `sizeHint` (the plain length, when known) lets brotli size its window. */
export function createEncoder(coding: CompressedCoding, effort: Effort, sizeHint?: number): zlib.BrotliCompress | zlib.Gzip {
  if (coding === 'br') {
    const params: Record<number, number> = {
      [zlib.constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY[effort],
      [zlib.constants.BROTLI_PARAM_LGWIN]: BROTLI_WINDOW_BITS
    };
    if (sizeHint !== undefined) {
      params[zlib.constants.BROTLI_PARAM_SIZE_HINT] = sizeHint;
    }
    return zlib.createBrotliCompress({ params });
  }
  return zlib.createGzip({ level: GZIP_LEVEL[effort] });
}

/** One-shot compression of a small body, on the calling thread. */
export function compressSync(coding: CompressedCoding, body: Buffer): Buffer {
  if (coding === 'br') {
    return zlib.brotliCompressSync(body, {
      params: { [zlib.constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY.fresh, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.length }
    });
  }
  return zlib.gzipSync(body, { level: GZIP_LEVEL.fresh });
}
