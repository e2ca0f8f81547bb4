/**
 * Header handling for the hop from the browser to Jupyter and back. Headers
 * travel as Node's flat raw arrays ([name, value, name, value, …]): they keep
 * repeated fields (Set-Cookie) as they came, and cost no object per request.
 */
import type { IncomingMessage } from 'node:http';
import { TLSSocket } from 'node:tls';
import { filterCookieHeader } from '../credentials';

/** A flat raw header list, as IncomingMessage.rawHeaders and writeHead() take it. */
export type RawHeaders = string[];

/**
 * Hop-by-hop fields (RFC 9110 §7.6.1): they describe one connection, not the
 * message, so a proxy must not forward them. Node sets its own on each side.
 */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** Other fields that say who the client is, believed only from a trusted proxy. */
const CLIENT_IDENTITY = new Set(['x-real-ip', 'x-scheme', 'forwarded']);

/**
 * The client's credentials never reach Jupyter (the front door replaces them
 * with its own); Expect was answered by the front door itself.
 */
const REPLACED = new Set(['authorization', 'proxy-authorization', 'expect']);

/** What Jupyter is told about who is asking: the front door's own credentials, never the client's. */
export interface ForwardCredentials {
  /** The Authorization header to send (the sidecar's token for Jupyter), or none. */
  authorization: string | undefined;
  /** Which of the client's cookies go on, by name. */
  keepCookie: (name: string) => boolean;
}

/** Nothing of the client's: no Authorization, no cookies. */
export const NO_CREDENTIALS: ForwardCredentials = { authorization: undefined, keepCookie: () => false };

/** Extra hop-by-hop names a message lists in its Connection field ("Connection: close, x-foo"). */
function connectionTokens(raw: RawHeaders): Set<string> | null {
  let tokens: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 10 && raw[i].toLowerCase() === 'connection') {
      for (const token of raw[i + 1].split(',')) {
        const name = token.trim().toLowerCase();
        if (name && name !== 'close' && name !== 'keep-alive' && name !== 'upgrade') {
          (tokens ??= new Set()).add(name);
        }
      }
    }
  }
  return tokens;
}

/**
 * The request headers to send to Jupyter: the client's own, Host included
 * (Jupyter checks Origin against it), minus hop-by-hop fields, plus
 * X-Forwarded-For/Port/Proto appended to any the client sent and
 * X-Forwarded-Host set if absent: the same semantics as http-proxy's `xfwd`.
 * With `upgrade`, Connection/Upgrade are kept (a WebSocket handshake needs them).
 * Unless `trustForwarded` (the peer is a trusted proxy), what the client says
 * about itself (X-Forwarded-*, X-Real-Ip, X-Scheme, Forwarded) is dropped:
 * Jupyter trusts those headers, so a client must not choose them.
 * The client's Authorization and cookies are replaced as `credentials` says.
 */
export function forwardedRequestHeaders(
  req: IncomingMessage,
  upgrade = false,
  trustForwarded = false,
  credentials: ForwardCredentials = NO_CREDENTIALS
): RawHeaders {
  const raw = req.rawHeaders;
  const listed = connectionTokens(raw);
  const out: RawHeaders = [];
  let xfFor: string | undefined;
  let xfPort: string | undefined;
  let xfProto: string | undefined;
  let xfHost: string | undefined;
  let host = '';
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    const lower = name.toLowerCase();
    if (!trustForwarded && (lower.startsWith('x-forwarded-') || CLIENT_IDENTITY.has(lower))) {
      continue;
    }
    if (lower.startsWith('x-forwarded-')) {
      // Collected and written once below, so a repeated field is joined, not duplicated.
      const join = (prev: string | undefined): string => (prev === undefined ? value : `${prev},${value}`);
      if (lower === 'x-forwarded-for') {
        xfFor = join(xfFor);
        continue;
      } else if (lower === 'x-forwarded-port') {
        xfPort = join(xfPort);
        continue;
      } else if (lower === 'x-forwarded-proto') {
        xfProto = join(xfProto);
        continue;
      } else if (lower === 'x-forwarded-host') {
        xfHost ??= value;
        continue;
      }
    }
    if (HOP_BY_HOP.has(lower) || listed?.has(lower)) {
      if (upgrade && (lower === 'connection' || lower === 'upgrade')) {
        out.push(name, value);
      }
      continue;
    }
    if (REPLACED.has(lower)) {
      continue;
    }
    if (lower === 'cookie') {
      const kept = filterCookieHeader(value, credentials.keepCookie);
      if (kept !== undefined) {
        out.push(name, kept);
      }
      continue;
    }
    if (lower === 'host') {
      host = value;
    }
    out.push(name, value);
  }
  if (credentials.authorization !== undefined) {
    out.push('Authorization', credentials.authorization);
  }
  const encrypted = req.socket instanceof TLSSocket && req.socket.encrypted;
  const scheme = upgrade ? (encrypted ? 'wss' : 'ws') : encrypted ? 'https' : 'http';
  const port = /:(\d+)$/.exec(host)?.[1] ?? (encrypted ? '443' : '80');
  const append = (prev: string | undefined, value: string): string => (prev ? `${prev},${value}` : value);
  out.push('x-forwarded-for', append(xfFor, req.socket.remoteAddress ?? ''));
  out.push('x-forwarded-port', append(xfPort, port));
  out.push('x-forwarded-proto', append(xfProto, scheme));
  out.push('x-forwarded-host', xfHost ?? host);
  return out;
}

/**
 * Jupyter's response headers for the browser: everything but hop-by-hop
 * fields, and minus `drop` (lower-case names the caller rewrites itself, such
 * as Content-Length when it compresses the body).
 */
export function forwardedResponseHeaders(raw: RawHeaders, drop?: ReadonlySet<string>): RawHeaders {
  const listed = connectionTokens(raw);
  const out: RawHeaders = [];
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i].toLowerCase();
    if (HOP_BY_HOP.has(lower) || listed?.has(lower) || drop?.has(lower)) {
      continue;
    }
    out.push(raw[i], raw[i + 1]);
  }
  return out;
}

/** The first value of a header in a raw list (case-insensitive), or undefined. */
export function rawHeader(raw: RawHeaders, lowerName: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === lowerName.length && raw[i].toLowerCase() === lowerName) {
      return raw[i + 1];
    }
  }
  return undefined;
}

/**
 * Adds Accept-Encoding to the Vary field of a raw list (merging with one
 * Jupyter sent), so caches keep the compressed and plain answers apart.
 */
export function withVaryAcceptEncoding(raw: RawHeaders): RawHeaders {
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].toLowerCase() === 'vary') {
      const value = raw[i + 1];
      if (value.trim() === '*' || /(^|,)\s*accept-encoding\s*(,|$)/i.test(value)) {
        return raw;
      }
      raw[i + 1] = `${value}, Accept-Encoding`;
      return raw;
    }
  }
  raw.push('Vary', 'Accept-Encoding');
  return raw;
}

/**
 * A compressed body is a different representation: a strong ETag must not be
 * reused for it (RFC 9110 §8.8.3). Like nginx, we make it weak; Jupyter
 * compares If-None-Match weakly, so browsers' revalidations still get 304.
 */
export function weakenEtag(raw: RawHeaders): RawHeaders {
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].toLowerCase() === 'etag' && raw[i + 1].startsWith('"')) {
      raw[i + 1] = `W/${raw[i + 1]}`;
    }
  }
  return raw;
}

/** Cache-Control directives, lower-cased; a value-less directive maps to ''. */
export function cacheControl(value: string | undefined): Map<string, string> {
  const directives = new Map<string, string>();
  if (!value) {
    return directives;
  }
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    const name = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (name) {
      directives.set(name, eq < 0 ? '' : part.slice(eq + 1).trim().replace(/^"|"$/g, ''));
    }
  }
  return directives;
}
