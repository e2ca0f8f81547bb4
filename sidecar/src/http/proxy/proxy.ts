import * as http from 'node:http';
import type { Socket } from 'node:net';
import { jupyterUnavailable, WorkspaceError } from '../../errors';
import { refuseOnSocket, sendError } from '../answers';
import { Logger } from '../../log';
import { pathOf, withoutTokenParams } from '../credentials';
import { isDisconnect } from '../disconnects';
import { ForwardCredentials, forwardedRequestHeaders, RawHeaders } from './headers';
import { relay } from './relay';
import { isSessionCookieName } from '../session';
import { StaticCache } from './staticCache';
import { negotiate } from './encoding';
import { tunnelWebSocket } from './wsTunnel';

/**
 * Who Jupyter is told the request is from: 'user' (the front door checked the
 * workspace's credentials; Jupyter gets the sidecar's own token and the
 * browser's cookies but the login), or 'anonymous' (nothing but the _xsrf
 * cookie its login form needs: a cookie a kernel could forge for Jupyter
 * never reaches it through the front door).
 */
export type ForwardAs = 'user' | 'anonymous';

export interface ForwardOptions {
  as: ForwardAs;
  /** Headers the front door adds to Jupyter's answer (the login cookie). */
  responseHeaders?: RawHeaders;
  /** The body to send instead of the client's (the front door rewrote it: a login form). */
  body?: Buffer;
  /** A body that may not exceed `bytes`: past it Jupyter's side is cut and the client gets `refusal()`. */
  bodyLimit?: { bytes: number; refusal: () => WorkspaceError; /** the body went through whole, with this many bytes */ passed?: (bytes: number) => void };
}

export interface CompressionOptions {
  /** Compress responses as browsers ask (brotli or gzip). Default true. */
  enabled?: boolean;
  /** Smallest body worth compressing, in bytes. Default 1024. */
  minBytes?: number;
  /** Memory for compressed immutable assets, in bytes; 0 turns the store off. Default 32 MiB. */
  cacheBytes?: number;
}

export interface JupyterProxyOptions {
  socketPath: string;
  /** True while Jupyter runs: the hot path forwards at once, without a promise per request. */
  isRunning: () => boolean;
  /** Resolves true when Jupyter is (back) up; requests wait on it during a restart. */
  waitForJupyter: () => Promise<boolean>;
  log: Logger;
  compression?: CompressionOptions;
  /** Whether this request's peer is a trusted proxy, whose X-Forwarded-* headers are kept. Default: nobody is. */
  trustsForwardedHeaders?: (req: http.IncomingMessage) => boolean;
  /** The Authorization header Jupyter accepts from the front door (its token changes at each start). */
  jupyterAuthorization: () => string;
  /** How long an idle pooled connection to Jupyter is kept, in ms (default 30 s; Jupyter's own limit is an hour). */
  upstreamIdleMs?: number;
}

export const COMPRESSION_DEFAULTS: Required<CompressionOptions> = {
  enabled: true,
  minBytes: 1024,
  cacheBytes: 32 * 1024 * 1024
};

/** One asset may take at most this share of the store (JupyterLab's largest bundle is ~2.5 MB plain). */
const CACHE_ENTRY_SHARE = 4;

const UNAVAILABLE = 'The Jupyter server is restarting or not running. Try again in a moment.';
const RETRY_LATER = { 'Retry-After': '5' };
const notAnswering = (err: Error): WorkspaceError => new WorkspaceError(502, `The Jupyter server did not answer: ${err.message}`, 'jupyter_unavailable');

/** Whether a request carries a body (and so cannot simply be sent again). */
export function hasBody(req: http.IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

const keepXsrfOnly = (name: string): boolean => name === '_xsrf';
const keepAllButLogin = (name: string): boolean => !isSessionCookieName(name);

/** Connections to Jupyter at once; see the agent in the constructor. */
const MAX_UPSTREAM_SOCKETS = 64;

/** Jupyter was not there (a restart), or its listen queue was full: the request never reached it. */
const NOT_REACHED = new Set(['ECONNREFUSED', 'ENOENT', 'EAGAIN']);
/** A pooled connection that Jupyter had just closed: the request may or may not have reached it. */
const STALE_CONNECTION = new Set(['ECONNRESET', 'EPIPE']);
/** Methods that may be sent twice without harm (RFC 9110 §9.2.2), when they carry no body. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Whether a failed request can be sent again: bodiless, and either never delivered or safe to repeat. */
function retryable(req: http.IncomingMessage, upReq: http.ClientRequest, err: NodeJS.ErrnoException): boolean {
  if (hasBody(req) || err.code === undefined) {
    return false;
  }
  return NOT_REACHED.has(err.code) || (upReq.reusedSocket && STALE_CONNECTION.has(err.code) && SAFE_METHODS.has(req.method ?? ''));
}

/**
 * Forwards every HTTP request and WebSocket that is not the sidecar's own to
 * Jupyter's Unix socket. Plain requests go through Node's http client with a
 * keep-alive pool (no proxy library in the hot path), with responses
 * compressed as the browser asks; WebSockets are joined byte for byte.
 * The Host header is kept (Jupyter checks it against Origin for WebSockets)
 * and X-Forwarded-* are set as http-proxy's `xfwd` does.
 */
export class JupyterProxy {
  private readonly agent: http.Agent;
  private readonly compression: Required<CompressionOptions>;
  /** Compressed immutable assets; null when turned off. */
  readonly cache: StaticCache | null;

  constructor(private readonly options: JupyterProxyOptions) {
    // A keep-alive pool to the socket: a new connection per request would add a round trip to every REST call.
    // LIFO reuses the most recently used connection, so a quiet tab keeps few sockets warm. An idle one is
    // closed by us well before tornado's idle limit, so no request is ever sent on one Jupyter is closing
    // (the agent's timeout ends free sockets only). At most 64 at once: tornado listens with a backlog of
    // 128, and a burst of connects beyond it fails with EAGAIN (seen under load with 256); requests past
    // 64 wait in the agent's queue instead.
    this.agent = new http.Agent({ keepAlive: true, maxSockets: MAX_UPSTREAM_SOCKETS, scheduling: 'lifo', timeout: options.upstreamIdleMs ?? 30_000 });
    this.compression = { ...COMPRESSION_DEFAULTS, ...options.compression };
    const { enabled, cacheBytes } = this.compression;
    this.cache = enabled && cacheBytes > 0 ? new StaticCache(cacheBytes, Math.floor(cacheBytes / CACHE_ENTRY_SHARE)) : null;
  }

  async web(req: http.IncomingMessage, res: http.ServerResponse, forward: ForwardOptions): Promise<void> {
    if (!forward.responseHeaders && this.serveKept(req, res)) {
      return;
    }
    if (this.options.isRunning()) {
      this.forward(req, res, forward, true);
      return;
    }
    if (!(await this.options.waitForJupyter())) {
      sendError(res, jupyterUnavailable(UNAVAILABLE), RETRY_LATER);
      return;
    }
    this.forward(req, res, forward, true);
  }

  async ws(req: http.IncomingMessage, socket: Socket, head: Buffer, as: ForwardAs): Promise<void> {
    socket.setNoDelay(true);
    if (!this.options.isRunning() && !(await this.options.waitForJupyter())) {
      refuseOnSocket(socket, jupyterUnavailable(UNAVAILABLE), RETRY_LATER);
      return;
    }
    tunnelWebSocket(req, socket, head, {
      socketPath: this.options.socketPath,
      path: withoutTokenParams(req.url ?? '/'),
      credentials: this.credentials(as),
      trustForwarded: this.options.trustsForwardedHeaders?.(req) ?? false,
      fail: (s, err) => {
        this.options.log.warn('Jupyter did not accept a WebSocket', { url: this.safeUrl(req), error: err.message });
        refuseOnSocket(s, notAnswering(err));
      },
      ended: err => {
        if (err && !isDisconnect(err)) {
          this.options.log.warn('WebSocket tunnel broke', { url: this.safeUrl(req), error: err.message });
        }
      }
    });
  }

  close(): void {
    this.agent.destroy();
    this.cache?.clear();
  }

  /** Ends the idle pooled connections (Jupyter is stopping: they lead nowhere); those in use finish as they will. */
  dropIdleConnections(): void {
    for (const sockets of Object.values(this.agent.freeSockets)) {
      for (const socket of sockets ?? []) {
        socket.destroy();
      }
    }
  }

  /** What Jupyter gets instead of the client's credentials (computed when sent: the token changes at each start). */
  private credentials(as: ForwardAs): ForwardCredentials {
    return as === 'user'
      ? { authorization: this.options.jupyterAuthorization(), keepCookie: keepAllButLogin }
      : { authorization: undefined, keepCookie: keepXsrfOnly };
  }

  /** A compressed copy of an immutable asset, if one is kept: answered without asking Jupyter. */
  private serveKept(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const cache = this.cache;
    if (cache === null || req.method !== 'GET' || req.url === undefined || req.headers.range !== undefined) {
      return false;
    }
    const coding = negotiate(req.headers['accept-encoding']);
    if (coding === 'identity') {
      return false;
    }
    // By path alone: a query (JupyterLab's ?v=, or a random one) never makes another entry.
    const entry = cache.get(StaticCache.key(pathOf(req.url), coding));
    if (entry === undefined) {
      return false;
    }
    cache.send(req, res, entry);
    return true;
  }

  /**
   * Sends the request to Jupyter and relays its answer. `mayRetry`: a
   * bodiless request that never reached Jupyter (a pooled connection Jupyter
   * had just closed, or a socket that vanished in a restart) is sent once more.
   */
  private forward(req: http.IncomingMessage, res: http.ServerResponse, forward: ForwardOptions, mayRetry: boolean): void {
    const headers = forwardedRequestHeaders(req, false, this.options.trustsForwardedHeaders?.(req) ?? false, this.credentials(forward.as));
    const chunked = req.headers['transfer-encoding'] !== undefined;
    if (forward.body) {
      for (let i = headers.length - 2; i >= 0; i -= 2) {
        if (headers[i].toLowerCase() === 'content-length') {
          headers.splice(i, 2);
        }
      }
      headers.push('Content-Length', String(forward.body.length));
    } else if (chunked) {
      // Framing as Node read it: a chunked body goes on chunked, whatever the method. Node's client
      // would otherwise write a GET's, HEAD's, DELETE's or OPTIONS' body with no framing at all, and
      // Jupyter would read it as a second request on the pooled connection that no check here saw.
      headers.push('Transfer-Encoding', 'chunked');
    }
    const upReq = http.request({
      socketPath: this.options.socketPath,
      agent: this.agent,
      method: req.method,
      path: withoutTokenParams(req.url ?? '/'),
      headers
    });
    let settled = false;
    let upstreamBroke: Error | undefined;
    /** Logs how the exchange ended, once: quietly when the browser left, loudly when Jupyter failed. */
    const settle = (upstreamError?: Error): void => {
      if (settled) {
        return;
      }
      settled = true;
      res.off('close', onClose);
      if (upstreamError) {
        this.options.log.warn('Jupyter broke off a response', { url: this.safeUrl(req), error: upstreamError.message });
      }
    };
    const onClose = (): void => {
      if (upstreamBroke) {
        settle(upstreamBroke);
      } else if (!res.writableFinished && !settled) {
        // The browser went away (tab closed, download cancelled): stop Jupyter's side, log nothing.
        settled = true;
        upReq.destroy();
      }
    };
    res.once('close', onClose);

    upReq.once('response', (up: http.IncomingMessage) => {
      up.once('error', err => (upstreamBroke ??= err));
      up.once('close', () => {
        if (!up.complete) {
          upstreamBroke ??= new Error('Jupyter closed the connection mid-response');
        }
      });
      relay(req, res, up, {
        compress: this.compression.enabled,
        minBytes: this.compression.minBytes,
        cache: this.cache,
        extraHeaders: forward.responseHeaders,
        done: () => settle(upstreamBroke)
      });
    });

    upReq.once('error', (err: NodeJS.ErrnoException) => {
      if (settled) {
        return; // we destroyed it because the browser left
      }
      if (mayRetry && !res.headersSent && retryable(req, upReq, err)) {
        settled = true;
        res.off('close', onClose);
        // A full listen queue empties in moments: give Jupyter one before trying again.
        void this.retry(req, res, forward, err.code === 'EAGAIN' ? 50 : 0);
        return;
      }
      settled = true;
      res.off('close', onClose);
      if (res.headersSent || res.destroyed) {
        this.options.log.warn('Jupyter broke off a response', { url: this.safeUrl(req), error: err.message });
        res.destroy();
        return;
      }
      this.options.log.warn('Jupyter did not answer', { url: this.safeUrl(req), error: err.message });
      sendError(res, notAnswering(err));
    });

    if (forward.body) {
      upReq.end(forward.body);
    } else if (hasBody(req)) {
      this.sendBody(req, res, upReq, forward, () => {
        settled = true;
        res.off('close', onClose);
      });
    } else {
      upReq.end();
    }
  }

  /**
   * Streams the client's body to Jupyter, counting it against `bodyLimit`:
   * past the limit Jupyter's side is destroyed (tornado never runs a handler
   * on a body cut short, so nothing is written) and the client gets the
   * refusal at once, while the rest of its body is read and dropped (a browser
   * whose upload is cut off mid-body shows a network error, not the message).
   */
  private sendBody(req: http.IncomingMessage, res: http.ServerResponse, upReq: http.ClientRequest, forward: ForwardOptions, giveUp: () => void): void {
    req.once('error', err => {
      if (!isDisconnect(err)) {
        this.options.log.debug('request body broke off', { url: this.safeUrl(req), error: err.message });
      }
      upReq.destroy();
    });
    const limit = forward.bodyLimit;
    if (!limit) {
      req.pipe(upReq);
      return;
    }
    let bytes = 0;
    const count = (chunk: Buffer): void => {
      bytes += chunk.length;
      if (bytes <= limit.bytes) {
        return;
      }
      req.off('data', count);
      req.unpipe(upReq);
      giveUp();
      upReq.destroy();
      req.resume();
      const err = limit.refusal();
      sendError(res, err);
    };
    req.on('data', count);
    req.once('end', () => {
      if (bytes <= limit.bytes) {
        limit.passed?.(bytes);
      }
    });
    req.pipe(upReq);
  }

  /** The second and last try: after a restart, once Jupyter is back; at once if it never left. */
  private async retry(req: http.IncomingMessage, res: http.ServerResponse, forward: ForwardOptions, afterMs: number): Promise<void> {
    if (afterMs > 0) {
      await new Promise(resolve => setTimeout(resolve, afterMs));
    }
    if (!this.options.isRunning() && !(await this.options.waitForJupyter())) {
      sendError(res, jupyterUnavailable(UNAVAILABLE), RETRY_LATER);
      return;
    }
    if (!res.destroyed) {
      this.forward(req, res, forward, false);
    }
  }

  /** The path without its query: queries can carry tokens, which must not reach the log. */
  private safeUrl(req: http.IncomingMessage): string {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    return q < 0 ? url : url.slice(0, q);
  }
}
