/**
 * Compressed copies of Jupyter's immutable static assets, kept in memory so
 * each file is compressed once rather than on every page load.
 *
 * What may be kept is decided by Jupyter's own answer, never by URL patterns:
 * only a 200 to a GET that Jupyter marks `Cache-Control: public` with a long
 * max-age (JupyterLab sends "public, max-age=31536000, immutable" for its
 * content-hashed bundles under /static/lab/ and /lab/extensions/…/static/),
 * with no Set-Cookie and no Vary beyond Accept-Encoding. "public" is the
 * origin saying the same bytes may go to anyone (RFC 9111 §5.2.2.9), which
 * is what serving a copy without asking Jupyter means. Pages such as /lab
 * (they carry the XSRF token and page config) and API answers never qualify.
 *
 * A request's own Cache-Control (a hard reload, DevTools' "disable cache")
 * does not bypass the store: the bytes of a content-hashed asset cannot
 * differ, and shared caches such as nginx and CDNs behave the same way.
 *
 * Memory is bounded in bytes (least recently used entries go first).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CompressedCoding } from './compression';
import { cacheControl, rawHeader, RawHeaders } from './headers';

/** Shorter-lived answers are not worth keeping (and are less likely to be truly immutable). */
const MIN_FRESHNESS_SECONDS = 24 * 3600;

/** Headers of a kept answer that a 304 repeats (RFC 9110 §15.4.5). */
const NOT_MODIFIED_HEADERS = new Set(['cache-control', 'content-location', 'etag', 'expires', 'last-modified', 'vary']);

export interface CacheEntry {
  /** The complete response headers for a 200, Content-Length and Content-Encoding included. */
  headers: RawHeaders;
  body: Buffer;
  etag: string | undefined;
  /** Last-Modified in ms since the epoch, for If-Modified-Since. */
  lastModifiedMs: number | undefined;
  storedAt: number;
  expiresAt: number;
  /** What the entry costs against the byte budget. */
  size: number;
}

export interface CacheStats {
  entries: number;
  bytes: number;
  hits: number;
  stores: number;
  evictions: number;
}

/**
 * How long (seconds) Jupyter allows this answer to be kept and shared, or 0
 * when it must not be kept. `plainLength` is the uncompressed Content-Length.
 */
export function keepableFor(req: IncomingMessage, status: number, raw: RawHeaders, plainLength: number | undefined, maxEntryBytes: number): number {
  if (req.method !== 'GET' || status !== 200 || req.headers.range !== undefined) {
    return 0;
  }
  if (plainLength === undefined || plainLength > maxEntryBytes) {
    return 0; // unknown-length answers are streams; huge ones would crowd out everything else
  }
  if (rawHeader(raw, 'set-cookie') !== undefined) {
    return 0;
  }
  const vary = rawHeader(raw, 'vary');
  if (vary !== undefined && vary.split(',').some(v => v.trim().toLowerCase() !== 'accept-encoding' && v.trim() !== '')) {
    return 0; // the answer depends on something else the client sent (a cookie, a header)
  }
  const cc = cacheControl(rawHeader(raw, 'cache-control'));
  if (!cc.has('public') || cc.has('private') || cc.has('no-store') || cc.has('no-cache') || cc.has('no-transform')) {
    return 0;
  }
  const maxAge = Number(cc.get('s-maxage') ?? cc.get('max-age'));
  return Number.isFinite(maxAge) && maxAge >= MIN_FRESHNESS_SECONDS ? maxAge : 0;
}

/** Does If-None-Match (weak comparison, RFC 9110 §13.1.2) or If-Modified-Since say the client already has it? */
function notModified(req: IncomingMessage, entry: CacheEntry): boolean {
  const inm = req.headers['if-none-match'];
  if (inm !== undefined) {
    if (entry.etag === undefined) {
      return false;
    }
    const mine = entry.etag.replace(/^W\//, '');
    return inm.trim() === '*' || inm.split(',').some(tag => tag.trim().replace(/^W\//, '') === mine);
  }
  const ims = req.headers['if-modified-since'];
  if (ims !== undefined && entry.lastModifiedMs !== undefined) {
    const since = Date.parse(ims);
    return Number.isFinite(since) && entry.lastModifiedMs <= since;
  }
  return false;
}

export class StaticCache {
  /** Insertion order is recency order: a hit moves its entry to the end. */
  private readonly entries = new Map<string, CacheEntry>();
  /** Keys being compressed right now, so concurrent first requests do not compress the same file twice. */
  private readonly filling = new Set<string>();
  private bytes = 0;
  private hits = 0;
  private stores = 0;
  private evictions = 0;

  /**
   * @param maxBytes budget for all kept bodies and headers
   * @param maxEntryBytes largest uncompressed body worth keeping
   */
  constructor(
    readonly maxBytes: number,
    readonly maxEntryBytes: number
  ) {}

  static key(url: string, coding: CompressedCoding): string {
    return `${coding} ${url}`;
  }

  /** The fresh entry for this key, marked most recently used; expired entries are dropped. */
  get(key: string, now = Date.now()): CacheEntry | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) {
      return undefined;
    }
    this.entries.delete(key);
    if (entry.expiresAt <= now) {
      this.bytes -= entry.size;
      return undefined;
    }
    this.entries.set(key, entry);
    this.hits++;
    return entry;
  }

  /** Claims the right to compress and store `key`; false when another request is already doing it. */
  beginFill(key: string): boolean {
    if (this.filling.has(key) || this.entries.has(key)) {
      return false;
    }
    this.filling.add(key);
    return true;
  }

  /** Ends a fill: stores the body when given, else just releases the claim (the response failed). */
  endFill(key: string, result?: { headers: RawHeaders; body: Buffer; freshnessSeconds: number }): void {
    this.filling.delete(key);
    if (!result) {
      return;
    }
    const { headers, body, freshnessSeconds } = result;
    const size = body.length + headers.reduce((n, h) => n + h.length, 0) + 200;
    if (size > this.maxBytes) {
      return;
    }
    const lastModified = rawHeader(headers, 'last-modified');
    const lastModifiedMs = lastModified === undefined ? undefined : Date.parse(lastModified);
    const now = Date.now();
    const entry: CacheEntry = {
      headers,
      body,
      etag: rawHeader(headers, 'etag'),
      lastModifiedMs: Number.isFinite(lastModifiedMs) ? lastModifiedMs : undefined,
      storedAt: now,
      expiresAt: now + freshnessSeconds * 1000,
      size
    };
    const old = this.entries.get(key);
    if (old) {
      this.entries.delete(key);
      this.bytes -= old.size;
    }
    this.entries.set(key, entry);
    this.bytes += size;
    this.stores++;
    for (const [oldest, victim] of this.entries) {
      if (this.bytes <= this.maxBytes) {
        break;
      }
      this.entries.delete(oldest);
      this.bytes -= victim.size;
      this.evictions++;
    }
  }

  /** Answers from a kept entry: 304 when the client's validators match, else the whole body. */
  send(req: IncomingMessage, res: ServerResponse, entry: CacheEntry): void {
    // Age marks an answer that Jupyter did not produce for this request (RFC 9111 §5.1).
    const age = String(Math.max(0, Math.floor((Date.now() - entry.storedAt) / 1000)));
    if (notModified(req, entry)) {
      const headers: RawHeaders = [];
      for (let i = 0; i < entry.headers.length; i += 2) {
        if (NOT_MODIFIED_HEADERS.has(entry.headers[i].toLowerCase())) {
          headers.push(entry.headers[i], entry.headers[i + 1]);
        }
      }
      headers.push('Age', age);
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, [...entry.headers, 'Age', age]);
    res.end(req.method === 'HEAD' ? undefined : entry.body);
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  stats(): CacheStats {
    return { entries: this.entries.size, bytes: this.bytes, hits: this.hits, stores: this.stores, evictions: this.evictions };
  }
}
