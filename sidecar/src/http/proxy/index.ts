/**
 * The pass-through to Jupyter: everything of the front door's traffic that
 * is not the sidecar's own goes through here, on Node's own HTTP client and
 * server (express never sees it). Nothing outside this folder imports its
 * files but this one (test/architecture/imports.test.ts checks it).
 *
 * The HTTP rules it keeps, and the tests that pin each:
 *
 * - Hop-by-hop fields (RFC 9110 §7.6.1: Connection, Keep-Alive, TE,
 *   Trailer, Transfer-Encoding, Upgrade and every name Connection lists)
 *   are dropped both ways; X-Forwarded-*, X-Real-Ip and X-Scheme are set
 *   from what the sidecar sees unless a trusted proxy said them
 *   (`headers.ts`; test/http/front-door-guard.test.ts).
 * - Framing: every body is reframed by Node (Content-Length or chunked),
 *   for every method, never passed through raw; an upstream connection
 *   whose framing is in doubt (the client left mid-body) is destroyed,
 *   never pooled (`proxy.ts`, `relay.ts`; test/http/framing.test.ts,
 *   test/http/fuzz.test.ts).
 * - Upgrade: a WebSocket is joined byte for byte once Jupyter answers 101;
 *   a refused upgrade is relayed as Jupyter answered it, and one the sidecar
 *   refuses is answered whole on the socket (`wsTunnel.ts`;
 *   test/http/compression.test.ts, test/http/answers.test.ts).
 * - Retries (RFC 9110 §9.2.2): a request is sent again only when it has no
 *   body and either never reached Jupyter (refused, no socket, EAGAIN) or
 *   is safe (GET, HEAD, OPTIONS) and met a pooled connection Jupyter had
 *   just closed; otherwise 502, and 503 with Retry-After while Jupyter is
 *   not running (`proxy.ts`; test/http/keep-alive.test.ts,
 *   test/http/answers.test.ts).
 * - Keep-alive: one pool of at most 64 connections to Jupyter's socket,
 *   LIFO, each closed by us before tornado's idle limit
 *   (`proxy.ts`; test/http/keep-alive.test.ts).
 * - Content coding: answers are compressed as Accept-Encoding asks
 *   (brotli, gzip), ETags weakened and Vary set; immutable assets are kept
 *   compressed once per coding, served by path whatever the query, and
 *   answered 304 when the browser has them (`compression.ts`,
 *   `encoding.ts`, `staticCache.ts`; test/http/compression.test.ts).
 * - Credentials: the caller's are replaced by the sidecar's own Jupyter
 *   token; the login cookie and token parameters never reach Jupyter
 *   (`headers.ts`, `proxy.ts`; test/jupyter/kernel-credentials.test.ts,
 *   test/http/front-door-guard.test.ts).
 */
export type { ForwardAs, ForwardOptions } from './proxy';
export { hasBody, JupyterProxy } from './proxy';
export type { RawHeaders } from './headers';
export { forwardedRequestHeaders } from './headers';
