/**
 * Sends Jupyter's answer on to the browser: as it came, or compressed the
 * way the browser asked, and for immutable assets compressed once and kept.
 * Bodies stream through (a large download is never held whole in memory);
 * only small bodies are gathered, to be compressed in one go.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Transform } from 'node:stream';
import { compressSync, createEncoder, CompressedCoding, isCompressible, SYNC_COMPRESS_MAX_BYTES } from './compression';
import { negotiate } from './encoding';
import { pathOf } from '../credentials';
import { forwardedResponseHeaders, rawHeader, RawHeaders, weakenEtag, withVaryAcceptEncoding } from './headers';
import { keepableFor, StaticCache } from './staticCache';

export interface RelayOptions {
  /** Compress at all (false: a plain pass-through). */
  compress: boolean;
  /** Bodies smaller than this go out as they are. */
  minBytes: number;
  /** Where immutable assets are kept compressed; null: compress them per request like the rest. */
  cache: StaticCache | null;
  /** Headers the front door adds to Jupyter's (its login cookie). */
  extraHeaders?: RawHeaders;
  /** Called once the exchange ends; `error` when it broke off (the caller decides how loudly to log). */
  done: (error?: Error) => void;
}

/** Replaced by our own values when the body is re-encoded. */
const DROP_WHEN_COMPRESSED: ReadonlySet<string> = new Set(['content-length', 'accept-ranges']);

/** Relays `up` (Jupyter's response to `req`) to `res`. */
export function relay(req: IncomingMessage, res: ServerResponse, up: IncomingMessage, options: RelayOptions): void {
  const status = up.statusCode ?? 502;
  const raw = options.extraHeaders ? [...up.rawHeaders, ...options.extraHeaders] : up.rawHeaders;
  if (!options.compress || !isCompressible(req.method, status, raw)) {
    res.writeHead(status, up.statusMessage, forwardedResponseHeaders(raw));
    passBody(up, res, options.done);
    return;
  }
  const lengthHeader = rawHeader(raw, 'content-length');
  const length = lengthHeader === undefined ? undefined : Number(lengthHeader);
  const coding = negotiate(req.headers['accept-encoding']);
  if (coding === 'identity' || (length !== undefined && length < options.minBytes)) {
    res.writeHead(status, up.statusMessage, withVaryAcceptEncoding(forwardedResponseHeaders(raw)));
    passBody(up, res, options.done);
    return;
  }
  const headers = weakenEtag(withVaryAcceptEncoding(forwardedResponseHeaders(raw, DROP_WHEN_COMPRESSED)));
  headers.push('Content-Encoding', coding);

  const cache = options.cache;
  const freshness = cache ? keepableFor(req, status, raw, length, cache.maxEntryBytes) : 0;
  // Kept by path alone: however many different queries ask for an asset, it is compressed once.
  const key = cache && freshness > 0 ? StaticCache.key(pathOf(req.url), coding) : null;
  if (cache && key !== null && cache.beginFill(key)) {
    compressAndKeep(up, res, status, headers, coding, length as number, options.done, body =>
      cache.endFill(key, body && { headers: [...headers, 'Content-Length', String(body.length)], body, freshnessSeconds: freshness })
    );
  } else if (key !== null) {
    // Another request is compressing this asset right now: this one goes out as it is rather than
    // paying for a second compression (a burst of ?v=<random> must not cost one each).
    res.writeHead(status, up.statusMessage, withVaryAcceptEncoding(forwardedResponseHeaders(raw)));
    passBody(up, res, options.done);
  } else if (length !== undefined && length <= SYNC_COMPRESS_MAX_BYTES) {
    compressSmall(up, res, status, raw, headers, coding, options.done);
  } else {
    compressStream(up, res, status, headers, coding, length, options.done);
  }
}

/**
 * up → (encoder →) res, with backpressure. Like stream.pipeline, minus the
 * AbortController and DOMException it builds per call, which showed in the
 * per-request profile. `done` runs once: when the body is complete, or with the
 * error when Jupyter's side broke (then the browser's response is cut, as it
 * must be: its headers are gone already). A browser that leaves is noticed by
 * the caller, which destroys Jupyter's side.
 */
function flow(up: IncomingMessage, res: ServerResponse, encoder: Transform | null, done: (error?: Error) => void): void {
  let finished = false;
  const finish = (err?: Error): void => {
    if (!finished) {
      finished = true;
      if (err) {
        encoder?.destroy();
        res.destroy();
      }
      done(err);
    }
  };
  up.once('error', finish);
  up.once('close', () => {
    if (!up.complete) {
      finish(new Error('Jupyter closed the connection mid-response'));
    }
  });
  if (encoder) {
    encoder.once('error', finish);
    encoder.once('end', () => finish());
    up.pipe(encoder).pipe(res);
  } else {
    up.once('end', () => finish());
    up.pipe(res);
  }
}

/** The body as it came. Content-Length (if any) stays Jupyter's. */
function passBody(up: IncomingMessage, res: ServerResponse, done: (error?: Error) => void): void {
  flow(up, res, null, done);
}

/** A small body: gathered, compressed on this thread, sent with its exact length (or plain, if that is not smaller). */
function compressSmall(
  up: IncomingMessage,
  res: ServerResponse,
  status: number,
  raw: RawHeaders,
  headers: RawHeaders,
  coding: CompressedCoding,
  done: (error?: Error) => void
): void {
  const chunks: Buffer[] = [];
  let failed = false;
  const fail = (err: Error): void => {
    if (!failed) {
      failed = true;
      res.destroy(); // nothing was sent yet, but nothing whole can be either
      done(err);
    }
  };
  up.on('data', (chunk: Buffer) => chunks.push(chunk));
  up.once('error', fail);
  up.once('close', () => {
    if (!up.complete) {
      fail(new Error('Jupyter closed the connection mid-response'));
    }
  });
  up.once('end', () => {
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    const packed = compressSync(coding, body);
    if (packed.length >= body.length) {
      res.writeHead(status, up.statusMessage, withVaryAcceptEncoding(forwardedResponseHeaders(raw)));
      res.end(body);
    } else {
      headers.push('Content-Length', String(packed.length));
      res.writeHead(status, up.statusMessage, headers);
      res.end(packed);
    }
    done();
  });
}

/** A body compressed as it streams; chunked, since the compressed length is not known in advance. */
function compressStream(
  up: IncomingMessage,
  res: ServerResponse,
  status: number,
  headers: RawHeaders,
  coding: CompressedCoding,
  length: number | undefined,
  done: (error?: Error) => void
): void {
  const encoder = createEncoder(coding, 'fresh', length);
  res.writeHead(status, up.statusMessage, headers);
  flow(up, res, encoder, done);
  if (length === undefined) {
    // A body of unknown length may arrive in bursts the browser wants as they come:
    // flush each one instead of waiting for the compressor's block to fill. (This
    // listener runs after the pipe's own, so each chunk is written before the flush.)
    up.on('data', () => encoder.flush());
  }
}

/** A keepable asset: compressed once at the kept level, streamed to this client, and stored when complete. */
function compressAndKeep(
  up: IncomingMessage,
  res: ServerResponse,
  status: number,
  headers: RawHeaders,
  coding: CompressedCoding,
  length: number,
  done: (error?: Error) => void,
  store: (body: Buffer | undefined) => void
): void {
  const encoder = createEncoder(coding, 'kept', length);
  const output: Buffer[] = [];
  let plainBytes = 0;
  up.on('data', (chunk: Buffer) => (plainBytes += chunk.length));
  encoder.on('data', (chunk: Buffer) => output.push(chunk));
  res.writeHead(status, up.statusMessage, headers);
  flow(up, res, encoder, err => {
    // Keep only a body that arrived whole; a broken-off one would be served truncated forever.
    store(!err && plainBytes === length ? Buffer.concat(output) : undefined);
    done(err);
  });
}
