/**
 * The browser's login: a cookie the sidecar signs with a key only it holds
 * (in the root-only state directory). Jupyter never sees the key nor the
 * cookie: the front door takes the cookie off every request it forwards.
 * That is what keeps a kernel, which runs as Jupyter's own user and can read
 * Jupyter's memory, from minting or stealing a login.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { TLSSocket } from 'node:tls';
import { parseCookies } from './credentials';

/** How long a login lasts, as tornado's secure cookies do for Jupyter (31 days). */
export const SESSION_MAX_AGE_SECONDS = 31 * 24 * 3600;

const PREFIX = 'gpu-workspace-session-';
const VERSION = '1';

/**
 * The cookie's name for a Host header: browsers do not keep cookies apart by
 * port, so two workspaces on one machine need two names (as Jupyter's
 * "username-<host>" cookie does).
 */
export function sessionCookieName(host: string | undefined): string {
  const key = host ?? '';
  let name = names.get(key);
  if (name === undefined) {
    name = PREFIX + key.replace(/[^A-Za-z0-9]/g, '-');
    if (names.size < 64) {
      names.set(key, name); // a workspace answers to a few host names; any others are not kept
    }
  }
  return name;
}

const names = new Map<string, string>();

export function isSessionCookieName(name: string): boolean {
  return name.startsWith(PREFIX);
}

/** Cookies already verified, so a tab's every request costs a map lookup, not an HMAC. */
const VERIFIED_KEPT = 64;

export class SessionKeys {
  /** Value → when it was issued (seconds), for values whose signature checked out. */
  private readonly verified = new Map<string, number>();

  constructor(
    private readonly key: Buffer,
    private readonly now: () => number = Date.now
  ) {}

  private sign(issued: string): string {
    return createHmac('sha256', this.key).update(`${PREFIX}|${VERSION}|${issued}`).digest('hex');
  }

  /** A fresh cookie value: "1.<issued, seconds>.<HMAC>". */
  issue(): string {
    const issued = String(Math.floor(this.now() / 1000));
    return `${VERSION}.${issued}.${this.sign(issued)}`;
  }

  /** Whether `value` is a cookie this key signed, not older than the session's life. */
  verify(value: string): boolean {
    let issued = this.verified.get(value);
    if (issued === undefined) {
      const parts = value.split('.');
      if (parts.length !== 3 || parts[0] !== VERSION || !/^\d{1,12}$/.test(parts[1]) || !/^[0-9a-f]{64}$/.test(parts[2])) {
        return false;
      }
      const expected = Buffer.from(this.sign(parts[1]), 'hex');
      if (!timingSafeEqual(expected, Buffer.from(parts[2], 'hex'))) {
        return false;
      }
      issued = Number(parts[1]);
      if (this.verified.size >= VERIFIED_KEPT) {
        this.verified.delete(this.verified.keys().next().value as string);
      }
      this.verified.set(value, issued);
    }
    const age = this.now() / 1000 - issued;
    return age >= -300 && age <= SESSION_MAX_AGE_SECONDS;
  }

  /** Whether the request carries a valid login cookie of this workspace. */
  fromRequest(req: IncomingMessage): boolean {
    if (req.headers.cookie === undefined) {
      return false;
    }
    const value = parseCookies(req.headers.cookie).get(sessionCookieName(req.headers.host));
    return value !== undefined && this.verify(value);
  }
}

/** Whether the browser reached us over HTTPS (directly, or as a trusted proxy in front says). */
export function isHttps(req: IncomingMessage, trustForwarded: boolean): boolean {
  if (req.socket instanceof TLSSocket && req.socket.encrypted) {
    return true;
  }
  if (!trustForwarded) {
    return false;
  }
  const proto = req.headers['x-forwarded-proto'];
  return typeof proto === 'string' && proto.split(',')[0].trim().toLowerCase() === 'https';
}

/** Set-Cookie for a new login, scoped to the workspace's URL prefix. */
export function sessionSetCookie(req: IncomingMessage, value: string, basePath: string, secure: boolean): string {
  return (
    `${sessionCookieName(req.headers.host)}=${value}; Path=${basePath}; Max-Age=${SESSION_MAX_AGE_SECONDS}; HttpOnly; SameSite=Lax` +
    (secure ? '; Secure' : '')
  );
}

/** Set-Cookie that ends the login. */
export function sessionClearCookie(req: IncomingMessage, basePath: string, secure: boolean): string {
  return `${sessionCookieName(req.headers.host)}=; Path=${basePath}; Max-Age=0; HttpOnly; SameSite=Lax` + (secure ? '; Secure' : '');
}
