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

/** Which of our secrets a token is, if any. */
type TokenKind = 'user' | 'kernel' | 'operator' | 'jupyter' | null;

/** What a request's credentials were found to be, kept for the request's life (the guard and the API both ask). */
interface Reading {
  /** The kinds of every value that could stand for a token (Basic and other schemes too). */
  mentioned: Set<TokenKind>;
  /** The tokens in the forms we accept, and what each is. */
  tokens: Array<{ kind: TokenKind }>;
}

/** A request that offers no token at all. */
const NOTHING_OFFERED: Reading = { mentioned: new Set(), tokens: [] };

/** Equal-length values compared in constant time (a token's length is no secret: each kind has its own). */
function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export class FrontDoorAuth {
  /** Our secrets as bytes, made once: a request's token is compared with each, in constant time. */
  private readonly known: Array<{ kind: Exclude<TokenKind, null | 'jupyter'>; bytes: Buffer }>;
  private jupyter: { value: string; bytes: Buffer } | null = null;
  private readonly readings = new WeakMap<IncomingMessage, Reading>();

  constructor(private readonly secrets: AuthSecrets) {
    this.known = [
      { kind: 'user', bytes: Buffer.from(secrets.token) },
      { kind: 'kernel', bytes: Buffer.from(secrets.kernelToken) }
    ];
    if (secrets.operatorToken !== undefined) {
      this.known.push({ kind: 'operator', bytes: Buffer.from(secrets.operatorToken) });
    }
  }

  /** Which secret `token` is: every comparison is made, each in constant time. */
  private kindOf(token: string): TokenKind {
    const offered = Buffer.from(token);
    const current = this.secrets.jupyterToken();
    if (this.jupyter?.value !== current) {
      this.jupyter = { value: current, bytes: Buffer.from(current) };
    }
    let kind: TokenKind = sameBytes(offered, this.jupyter.bytes) ? 'jupyter' : null;
    for (const secret of this.known) {
      if (sameBytes(offered, secret.bytes)) {
        kind = secret.kind;
      }
    }
    return kind;
  }

  private read(req: IncomingMessage): Reading {
    if (req.headers.authorization === undefined && !(req.url ?? '').includes('?')) {
      return NOTHING_OFFERED; // most requests (a tab's, by cookie): nothing to read
    }
    let reading = this.readings.get(req);
    if (!reading) {
      const offered = offeredCredentials(req);
      const kinds = new Map<string, TokenKind>(offered.mentioned.map(t => [t, this.kindOf(t)]));
      reading = { mentioned: new Set(kinds.values()), tokens: offered.tokens.map(t => ({ kind: kinds.get(t) ?? null })) };
      this.readings.set(req, reading);
    }
    return reading;
  }

  /** Which of our protected tokens (never accepted where it does not belong) the request offers anywhere. */
  protectedTokens(req: IncomingMessage): { operator: boolean; kernel: boolean; jupyter: boolean } {
    const { mentioned } = this.read(req);
    return { operator: mentioned.has('operator'), kernel: mentioned.has('kernel'), jupyter: mentioned.has('jupyter') };
  }

  isKernelToken(token: string | undefined): boolean {
    return !!token && this.kindOf(token) === 'kernel';
  }

  /**
   * What the request's credentials amount to. A request offering several
   * different tokens is refused (400): readers disagree on which one counts.
   * Jupyter's own token is refused from anyone (403).
   */
  identify(req: IncomingMessage): Identification {
    const { tokens } = this.read(req);
    if (tokens.length > 1) {
      throw badRequest('The request carries several different tokens (Authorization header and ?token=): send one.');
    }
    const token = tokens[0];
    if (token !== undefined) {
      switch (token.kind) {
        case 'jupyter':
          throw forbidden('That token belongs to the Jupyter server behind this workspace and is never accepted from outside.');
        case 'user':
          return { kind: 'user', via: 'token', fromQuery: req.headers.authorization === undefined };
        case 'kernel':
          return { kind: 'kernel' };
        case 'operator':
          return { kind: 'operator' };
      }
    }
    if (this.secrets.sessions.fromRequest(req)) {
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
    const { tokens } = this.read(req);
    return tokens.length === 1 && tokens[0].kind === 'operator';
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
