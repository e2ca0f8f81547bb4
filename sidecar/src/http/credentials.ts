/**
 * Reading what a request offers as credentials, the way every reader of it
 * might: the guard, the sidecar's own authentication, and Jupyter behind us
 * (tornado takes the last `token` query value, jupyter_server the
 * Authorization header first). A request is judged by every value it holds,
 * never by the first one a particular parser would pick. Nothing here throws:
 * any request target, however malformed, is read as text.
 */
import type { IncomingMessage } from 'node:http';

/** Credentials as they arrived. */
export interface OfferedCredentials {
  /** Every distinct token in a form we accept: "Authorization: token|bearer X", and each `token` query value. */
  tokens: string[];
  /** Every distinct value that could stand for a token anywhere, other Authorization schemes (Basic) included. */
  mentioned: string[];
}

/**
 * The query string of a request target ("" when there is none): everything
 * after the first "?", a "#" included, as tornado reads it (a fragment cut
 * off here but not there would hide a parameter from our checks).
 */
export function queryOf(url: string | undefined): string {
  const q = url ? url.indexOf('?') : -1;
  return q < 0 ? '' : (url as string).slice(q + 1);
}

/** The path of a request target, without its query. */
export function pathOf(url: string | undefined): string {
  const value = url ?? '/';
  const q = value.indexOf('?');
  return q < 0 ? value : value.slice(0, q);
}

/** Whether a query string can name a `token` parameter: literally, or spelled with %-escapes or "+". */
function mayHoldToken(query: string): boolean {
  return query.includes('token') || query.includes('%');
}

/** URLSearchParams never throws: malformed escapes are kept as they are. */
export function searchParams(url: string | undefined): URLSearchParams {
  return new URLSearchParams(queryOf(url));
}

/**
 * Every value the Authorization header can stand for. jupyter_server reads
 * "token X" and "bearer X"; for Basic, both halves of the decoded pair count
 * (a client could put the token in either).
 */
function authorizationValues(header: string): { values: string[]; foreign: boolean } {
  const trimmed = header.trim();
  const space = trimmed.search(/\s/);
  const scheme = (space < 0 ? trimmed : trimmed.slice(0, space)).toLowerCase();
  const rest = space < 0 ? '' : trimmed.slice(space).trim();
  if ((scheme === 'token' || scheme === 'bearer') && rest) {
    return { values: [rest], foreign: false };
  }
  const values = [rest].filter(Boolean);
  if (scheme === 'basic' && rest) {
    const decoded = Buffer.from(rest, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    values.push(...(colon < 0 ? [decoded] : [decoded.slice(0, colon), decoded.slice(colon + 1)]).filter(Boolean));
  }
  return { values, foreign: true };
}

export function offeredCredentials(req: IncomingMessage): OfferedCredentials {
  const tokens = new Set<string>();
  const mentioned = new Set<string>();
  const header = req.headers.authorization;
  if (typeof header === 'string' && header.trim()) {
    const found = authorizationValues(header);
    found.values.forEach(v => mentioned.add(v));
    if (!found.foreign) {
      found.values.forEach(v => tokens.add(v));
    }
  }
  const query = queryOf(req.url);
  if (mayHoldToken(query)) {
    for (const value of new URLSearchParams(query).getAll('token')) {
      if (value) {
        tokens.add(value);
        mentioned.add(value);
      }
    }
  }
  return { tokens: [...tokens], mentioned: [...mentioned] };
}

/**
 * The request target without any `token` parameter: what Jupyter is given, so
 * it never sees (nor logs, nor keeps in its memory) a credential of ours.
 */
export function withoutTokenParams(url: string): string {
  const q = url.indexOf('?');
  if (q < 0 || !mayHoldToken(url.slice(q + 1))) {
    return url;
  }
  const kept = url
    .slice(q + 1)
    .split('&')
    .filter(pair => {
      const name = pair.split('=', 1)[0];
      let decoded = name;
      try {
        decoded = decodeURIComponent(name.replace(/\+/g, ' '));
      } catch {
        // A malformed escape is not "token" either way.
      }
      return decoded !== 'token';
    });
  return kept.length ? `${url.slice(0, q)}?${kept.join('&')}` : url.slice(0, q);
}

/** Cookie header → name/value pairs, in order; malformed parts are skipped, never thrown on. */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    const name = eq > 0 ? part.slice(0, eq).trim() : '';
    if (name) {
      if (!out.has(name)) {
        out.set(name, part.slice(eq + 1).trim());
      }
    }
  }
  return out;
}

/** A Cookie header with only the cookies `keep` accepts (by name); undefined when none is left. */
export function filterCookieHeader(header: string, keep: (name: string) => boolean): string | undefined {
  const kept = header
    .split(';')
    .map(part => part.trim())
    .filter(part => {
      const eq = part.indexOf('=');
      return eq > 0 && keep(part.slice(0, eq).trim());
    });
  return kept.length ? kept.join('; ') : undefined;
}
