import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { forbidden, jupyterUnavailable, unauthorized } from '../errors';
import { requestOverSocket } from '../jupyter/unixHttp';

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

function tokenFrom(req: IncomingMessage): string | undefined {
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

  constructor(
    private readonly socketPath: string,
    private readonly baseUrl: string,
    private readonly cacheMs: number,
    private readonly waitForJupyter: () => Promise<boolean>
  ) {}

  async authenticate(req: IncomingMessage): Promise<Caller> {
    const token = tokenFrom(req);
    const cookie = req.headers.cookie;
    if (!token && !cookie) {
      throw unauthorized('Authentication required: send "Authorization: token <token>" or a Jupyter login cookie.');
    }
    const via: Caller['via'] = token ? 'token' : 'cookie';
    if (via === 'cookie') {
      this.checkXsrf(req);
    }
    const key = createHash('sha256')
      .update(`${token ?? ''}\n${token ? '' : cookie}`)
      .digest('hex');
    const hit = this.cache.get(key);
    if (hit && hit.expires > Date.now()) {
      return hit.caller;
    }
    const identity = await this.askJupyter(token, cookie, req.headers.host);
    const caller: Caller = { identity, via };
    if (this.cacheMs > 0) {
      this.cache.set(key, { caller, expires: Date.now() + this.cacheMs });
      this.prune();
    }
    return caller;
  }

  /** Double-submit check, as Jupyter does: the X-XSRFToken header must equal the _xsrf cookie on writes. */
  private checkXsrf(req: IncomingMessage): void {
    if (SAFE_METHODS.has((req.method ?? 'GET').toUpperCase())) {
      return;
    }
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
      throw token ? forbidden('Invalid token.') : unauthorized('Your login has expired or is not valid. Log in to Jupyter again.');
    }
    throw jupyterUnavailable(`The Jupyter server answered ${res.status} when checking credentials.`);
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
