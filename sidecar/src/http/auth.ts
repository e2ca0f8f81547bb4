/**
 * Who is calling. The sidecar checks every credential itself, with secrets
 * that live only in its own (root's) memory and state directory: the
 * workspace token, its login-cookie key, the kernel-scoped token and the
 * operator's. Jupyter is given none of them. It runs as the notebook user,
 * like every kernel, so a kernel can read whatever Jupyter holds; Jupyter is
 * therefore told only a token of its own (`jupyterToken`, new at each start),
 * which the front door refuses from any client. What a kernel can steal from
 * Jupyter opens nothing here.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { badRequest, forbidden, unauthorized } from '../errors';
import { offeredCredentials, parseCookies, searchParams } from './credentials';
import { SessionKeys } from './session';

/** Who the caller is, as the API reports it. */
export interface Identity {
  username: string;
  name?: string;
  display_name?: string;
  [key: string]: unknown;
}

export interface Caller {
  identity: Identity;
  /** How the caller proved who they are: cookie-only callers must pass the XSRF check on writes. */
  via: 'token' | 'cookie';
  /**
   * 'user': the workspace's user (token or login cookie). 'kernel': the
   * kernel-scoped token Jupyter's processes get in GPU_WORKSPACE_TOKEN, which
   * may only hold keep-awake leases and read the status.
   */
  scope: 'user' | 'kernel';
}

/** What a request's credentials amount to. */
export type Identification =
  | { kind: 'user'; via: 'token' | 'cookie'; /** the token came in the URL: a browser that should get the login cookie */ fromQuery: boolean }
  | { kind: 'kernel' }
  | { kind: 'operator' }
  /** No valid credential; `offered` when a token was given that is none of ours. */
  | { kind: 'anonymous'; offered: boolean };

export interface AuthSecrets {
  /** The workspace token (the one in the URL the sidecar prints). */
  token: string;
  /** GPU_WORKSPACE_TOKEN, given to kernels and terminals. */
  kernelToken: string;
  operatorToken: string | undefined;
  /** The token Jupyter knows, current for its running instance; refused from clients. */
  jupyterToken: () => string;
  sessions: SessionKeys;
  /** The workspace's user, as the API names them. */
  identity: Identity;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Constant-time comparison of two secrets. */
export function sameSecret(a: string, b: string): boolean {
  // Hashing first makes the comparison's time independent of both lengths.
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/**
 * The token inside a tornado XSRF value: version 2 is "2|mask|masked|time"
 * (hex; the token is masked XOR mask), version 1 the bare hex token. The
 * cookie and the page's form field mask the same token differently, so the
 * tokens are compared, not the strings.
 */
export function xsrfToken(value: string): Buffer | null {
  if (value.startsWith('2|')) {
    const parts = value.split('|');
    if (parts.length !== 4 || !/^[0-9a-f]+$/i.test(parts[1]) || !/^[0-9a-f]+$/i.test(parts[2]) || parts[1].length % 2 || parts[2].length % 2) {
      return null;
    }
    const mask = Buffer.from(parts[1], 'hex');
    const masked = Buffer.from(parts[2], 'hex');
    if (mask.length === 0 || masked.length === 0) {
      return null;
    }
    return Buffer.from(masked.map((byte, i) => byte ^ mask[i % mask.length]));
  }
  if (!value) {
    return null;
  }
  return /^[0-9a-f]+$/i.test(value) && value.length % 2 === 0 ? Buffer.from(value, 'hex') : Buffer.from(value);
}

/**
 * Refuses a request a browser marked as coming from another site, or whose
 * Origin is not this host. Clients that send neither header (curl, scripts)
 * are not browsers and cannot carry a victim's cookie on their own.
 */
export function checkSameOrigin(req: IncomingMessage): void {
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin') {
    throw forbidden(`Request refused: it came from another site (Sec-Fetch-Site: ${site}). Use the workspace's own pages.`);
  }
  const origin = req.headers.origin;
  if (typeof origin === 'string' && originHost(origin) !== (req.headers.host ?? '').toLowerCase()) {
    throw forbidden(`Request refused: its Origin (${origin}) is not this workspace (${req.headers.host ?? 'no Host'}).`);
  }
}

/** The host[:port] an Origin names, lower-cased; '' for "null" or garbage. */
export function originHost(origin: string): string {
  const match = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)$/i.exec(origin.trim());
  return match ? match[1].toLowerCase() : '';
}

export class FrontDoorAuth {
  constructor(private readonly secrets: AuthSecrets) {}

  /** Which of our protected tokens (never accepted where it does not belong) the request offers anywhere. */
  protectedTokens(req: IncomingMessage): { operator: boolean; kernel: boolean; jupyter: boolean } {
    const s = this.secrets;
    const found = { operator: false, kernel: false, jupyter: false };
    for (const token of offeredCredentials(req).mentioned) {
      found.operator ||= s.operatorToken !== undefined && sameSecret(token, s.operatorToken);
      found.kernel ||= sameSecret(token, s.kernelToken);
      found.jupyter ||= sameSecret(token, s.jupyterToken());
    }
    return found;
  }

  isKernelToken(token: string | undefined): boolean {
    return !!token && sameSecret(token, this.secrets.kernelToken);
  }

  /**
   * What the request's credentials amount to. A request offering several
   * different tokens is refused (400): readers disagree on which one counts.
   * Jupyter's own token is refused from anyone (403).
   */
  identify(req: IncomingMessage): Identification {
    const s = this.secrets;
    const { tokens } = offeredCredentials(req);
    if (tokens.length > 1) {
      throw badRequest('The request carries several different tokens (Authorization header and ?token=): send one.');
    }
    const token = tokens[0];
    if (token !== undefined) {
      if (sameSecret(token, s.jupyterToken())) {
        throw forbidden('That token belongs to the Jupyter server behind this workspace and is never accepted from outside.');
      }
      if (sameSecret(token, s.token)) {
        return { kind: 'user', via: 'token', fromQuery: req.headers.authorization === undefined };
      }
      if (sameSecret(token, s.kernelToken)) {
        return { kind: 'kernel' };
      }
      if (s.operatorToken !== undefined && sameSecret(token, s.operatorToken)) {
        return { kind: 'operator' };
      }
    }
    if (s.sessions.fromRequest(req)) {
      return { kind: 'user', via: 'cookie', fromQuery: false };
    }
    return { kind: 'anonymous', offered: token !== undefined };
  }

  /** The caller of a sidecar API route; throws 401/403 with a message the UI shows. */
  authenticate(req: IncomingMessage): Caller {
    const who = this.identify(req);
    switch (who.kind) {
      case 'operator':
        throw forbidden('The operator token works only on operator routes (POST quota/grants); use the workspace token here.');
      case 'kernel':
        return { identity: { username: 'kernel' }, via: 'token', scope: 'kernel' };
      case 'anonymous':
        throw who.offered
          ? unauthorized('Invalid token.')
          : unauthorized('Authentication required: send "Authorization: token <token>", or log in to the workspace in the browser.');
      case 'user':
        if (who.via === 'cookie') {
          this.checkCookieWrite(req);
        }
        return { identity: this.secrets.identity, via: who.via, scope: 'user' };
    }
  }

  /** Whether the request offers the operator token (operator routes take nothing else). */
  isOperator(req: IncomingMessage): boolean {
    const { tokens } = offeredCredentials(req);
    const operator = this.secrets.operatorToken;
    return tokens.length === 1 && operator !== undefined && sameSecret(tokens[0], operator);
  }

  /**
   * A cookie-authenticated write must come from the workspace's own pages:
   * same origin, as browsers say with Sec-Fetch-Site and Origin, and the
   * XSRF double submit Jupyter uses (its `_xsrf` cookie, sent back in a
   * header). The double submit alone is not enough: on a path-based
   * JupyterHub, another user's server on the same domain can plant _xsrf.
   * The front door checks this for Jupyter's routes too: Jupyter skips its
   * own check for the token-authenticated requests the sidecar sends it.
   */
  checkCookieWrite(req: IncomingMessage): void {
    if (SAFE_METHODS.has((req.method ?? 'GET').toUpperCase())) {
      return;
    }
    checkSameOrigin(req);
    const cookie = parseCookies(req.headers.cookie).get('_xsrf');
    const sent = req.headers['x-xsrftoken'] ?? req.headers['x-csrftoken'] ?? searchParams(req.url).get('_xsrf') ?? undefined;
    const a = cookie === undefined ? null : xsrfToken(cookie);
    const b = typeof sent === 'string' ? xsrfToken(sent) : null;
    if (!a || !b || a.length !== b.length || !timingSafeEqual(a, b)) {
      throw forbidden('XSRF check failed: cookie-authenticated writes need an X-XSRFToken header matching the _xsrf cookie.');
    }
  }
}
