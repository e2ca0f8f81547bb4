import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { forbidden, jupyterUnavailable, unauthorized } from '../errors';
import { requestOverSocket } from '../jupyter/unixHttp';
import { decodeSignedValueV2, loginCookieName, unquoteCookie } from './signedCookie';

/** What Jupyter's GET /api/me says about the caller. */
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

/** What the sidecar needs to check credentials itself while Jupyter is stopped for inactivity. */
export interface LocalCredentials {
  /** The workspace token. */
  token: string;
  /** Reads Jupyter's cookie secret, as Jupyter reads it (the file's bytes). */
  cookieSecret: () => Buffer;
  /** True while Jupyter is stopped for inactivity. */
  jupyterParked: () => boolean;
  /** The token kernels get (GPU_WORKSPACE_TOKEN). */
  kernelToken: string;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) {
      out.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
    }
  }
  return out;
}

/** Constant-time comparison of two secrets. */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function tokenFrom(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (header) {
    const match = /^(?:token|bearer)\s+(\S+)$/i.exec(header.trim());
    return match ? match[1] : undefined;
  }
  const url = new URL(req.url ?? '/', 'http://sidecar');
  return url.searchParams.get('token') ?? undefined;
}

/**
 * Authenticates sidecar API calls with Jupyter's own auth: the caller's
 * credentials are replayed to Jupyter's GET /api/me over the private socket.
 * One auth system (token, password cookie, JupyterHub OAuth) for both.
 */
export class JupyterAuthenticator {
  private cache = new Map<string, { caller: Caller; expires: number }>();
  /** Who the user was the last time Jupyter said so: the name to use while it is stopped. */
  private lastIdentity: Identity | null = null;

  constructor(
    private readonly socketPath: string,
    private readonly baseUrl: string,
    private readonly cacheMs: number,
    private readonly waitForJupyter: () => Promise<boolean>,
    /** The operator's token: refused here, so it is never replayed to Jupyter. */
    private readonly operatorToken?: string,
    private readonly local?: LocalCredentials
  ) {}

  /** Whether `token` is the kernel-scoped token (which Jupyter must never see as a credential). */
  isKernelToken(token: string | undefined): boolean {
    return !!token && !!this.local && sameSecret(token, this.local.kernelToken);
  }

  async authenticate(req: IncomingMessage): Promise<Caller> {
    const token = tokenFrom(req);
    const cookie = req.headers.cookie;
    if (!token && !cookie) {
      throw unauthorized('Authentication required: send "Authorization: token <token>" or a Jupyter login cookie.');
    }
    if (token && this.operatorToken && sameSecret(token, this.operatorToken)) {
      throw forbidden('The operator token works only on operator routes (POST quota/grants); use the workspace token here.');
    }
    if (token && this.isKernelToken(token)) {
      return { identity: { username: 'kernel' }, via: 'token', scope: 'kernel' };
    }
    const via: Caller['via'] = token ? 'token' : 'cookie';
    if (via === 'cookie') {
      this.checkCookieWrite(req);
    }
    if (this.local?.jupyterParked()) {
      return this.checkLocally(req, token, cookie ?? '');
    }
    const key = createHash('sha256')
      .update(`${token ?? ''}\n${token ? '' : cookie}`)
      .digest('hex');
    const hit = this.cache.get(key);
    if (hit && hit.expires > Date.now()) {
      return hit.caller;
    }
    const identity = await this.askJupyter(token, cookie, req.headers.host);
    const caller: Caller = { identity, via, scope: 'user' };
    this.lastIdentity = identity;
    if (this.cacheMs > 0) {
      this.cache.set(key, { caller, expires: Date.now() + this.cacheMs });
      this.prune();
    }
    return caller;
  }

  /**
   * A cookie-authenticated write must come from the workspace's own pages:
   * same origin, as browsers say with Sec-Fetch-Site and Origin, and the
   * XSRF double submit Jupyter uses. The double submit alone is not enough:
   * on a path-based JupyterHub, another user's server on the same domain can
   * plant the _xsrf cookie.
   */
  private checkCookieWrite(req: IncomingMessage): void {
    if (SAFE_METHODS.has((req.method ?? 'GET').toUpperCase())) {
      return;
    }
    checkSameOrigin(req);
    const cookie = parseCookies(req.headers.cookie).get('_xsrf');
    const header = req.headers['x-xsrftoken'];
    if (!cookie || typeof header !== 'string' || header !== cookie) {
      throw forbidden('XSRF check failed: cookie-authenticated writes need an X-XSRFToken header matching the _xsrf cookie.');
    }
  }

  private async askJupyter(token: string | undefined, cookie: string | undefined, host: string | undefined): Promise<Identity> {
    if (!(await this.waitForJupyter())) {
      throw jupyterUnavailable('The Jupyter server is not running, so credentials cannot be checked. Try again in a moment.');
    }
    const headers: Record<string, string> = { host: host ?? 'localhost' };
    if (token) {
      headers.authorization = `token ${token}`;
    } else if (cookie) {
      headers.cookie = cookie;
    }
    let res;
    try {
      res = await requestOverSocket(this.socketPath, { path: `${this.baseUrl}api/me`, headers, timeoutMs: 10_000 });
    } catch (err) {
      throw jupyterUnavailable(`Could not reach the Jupyter server to check credentials: ${(err as Error).message}`);
    }
    if (res.status === 200) {
      const body = JSON.parse(res.body) as { identity?: Identity };
      if (body.identity && typeof body.identity.username === 'string') {
        return body.identity;
      }
    }
    if (res.status === 401 || res.status === 403 || res.status === 302) {
      throw token ? unauthorized('Invalid token.') : unauthorized('Your login has expired or is not valid. Log in to Jupyter again.');
    }
    throw jupyterUnavailable(`The Jupyter server answered ${res.status} when checking credentials.`);
  }

  /**
   * While Jupyter is stopped nobody can ask it: the workspace token is
   * compared, and the login cookie's tornado signature checked with the
   * pinned cookie secret, here.
   */
  private checkLocally(req: IncomingMessage, token: string | undefined, cookieHeader: string): Caller {
    const local = this.local as LocalCredentials;
    const fallback: Identity = this.lastIdentity ?? { username: 'user' };
    if (token) {
      if (!sameSecret(token, local.token)) {
        throw unauthorized('Invalid token.');
      }
      return { identity: fallback, via: 'token', scope: 'user' };
    }
    const name = loginCookieName(req.headers.host ?? '');
    const raw = parseCookies(cookieHeader).get(name);
    const value = raw === undefined ? null : decodeSignedValueV2(local.cookieSecret(), name, unquoteCookie(raw), Date.now());
    if (value === null) {
      throw unauthorized('Your login has expired or is not valid. Log in to Jupyter again.');
    }
    let identity: Identity = fallback;
    try {
      const user = JSON.parse(value) as Partial<Identity>;
      if (typeof user.username === 'string') {
        identity = { username: user.username, name: typeof user.name === 'string' ? user.name : user.username };
      }
    } catch {
      // An older cookie format holding the bare username.
      identity = { username: value };
    }
    return { identity, via: 'cookie', scope: 'user' };
  }

  private prune(): void {
    if (this.cache.size < 256) {
      return;
    }
    const now = Date.now();
    for (const [key, entry] of this.cache) {
      if (entry.expires <= now) {
        this.cache.delete(key);
      }
    }
  }
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
  if (typeof origin === 'string') {
    let host = '';
    try {
      host = new URL(origin).host;
    } catch {
      // "null" or garbage: not this host.
    }
    if (!host || host !== req.headers.host) {
      throw forbidden(`Request refused: its Origin (${origin}) is not this workspace (${req.headers.host ?? 'no Host'}).`);
    }
  }
}
