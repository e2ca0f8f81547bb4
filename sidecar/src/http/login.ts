/**
 * The browser's login and logout, answered at the front door. Jupyter's own
 * login page is still what the browser sees (its form, its look), but the
 * token typed into it is checked here: Jupyter does not know the workspace
 * token, only its own, which no client may use.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { WorkspaceError } from '../errors';
import { sendError } from './answers';
import { pathOf, searchParams } from './credentials';
import { sameSecret } from './auth';
import { RawHeaders } from './proxy';
import { isHttps, SessionKeys, sessionClearCookie, sessionSetCookie } from './session';

/** A login form is a few fields; anything larger is not one. */
const MAX_FORM_BYTES = 16 * 1024;

export interface LoginOptions {
  baseUrl: string;
  token: string;
  sessions: SessionKeys;
  trustsForwardedHeaders: (req: IncomingMessage) => boolean;
  /** Jupyter's tokens and the operator's: typed into the form, they are sent on as a wrong password. */
  isProtected: (value: string) => boolean;
}

export interface LoginOutcome {
  /** Answered here (a login that worked): nothing goes to Jupyter. */
  answered: boolean;
  /** Otherwise the form to send Jupyter instead of the client's (it shows "Invalid credentials"). */
  body?: Buffer;
}

/** Where a login may send the browser: a path under the workspace, never another site. */
export function safeNext(next: string | null, baseUrl: string): string {
  if (!next || !next.startsWith(baseUrl) || next.startsWith('//') || next.includes('\\') || /[\0-\x1f]/.test(next)) {
    return baseUrl;
  }
  return next;
}

function readForm(req: IncomingMessage): Promise<URLSearchParams | null> {
  return new Promise(resolve => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_FORM_BYTES) {
        tooLarge = true;
      } else {
        chunks.push(chunk);
      }
    });
    req.once('end', () => resolve(tooLarge ? null : new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.once('error', () => resolve(null));
  });
}

export function createLogin(o: LoginOptions) {
  const loginPath = `${o.baseUrl}login`;
  const logoutPath = `${o.baseUrl}logout`;
  return {
    isLoginForm(req: IncomingMessage): boolean {
      return req.method === 'POST' && pathOf(req.url) === loginPath;
    },

    isLogout(req: IncomingMessage): boolean {
      return req.method === 'GET' && pathOf(req.url) === logoutPath;
    },

    /** The login cookie a browser gets when it came with the workspace token (in the URL, as printed). */
    loginHeaders(req: IncomingMessage): RawHeaders {
      return ['Set-Cookie', sessionSetCookie(req, o.sessions.issue(), o.baseUrl, isHttps(req, o.trustsForwardedHeaders(req)))];
    },

    logoutHeaders(req: IncomingMessage): RawHeaders {
      return ['Set-Cookie', sessionClearCookie(req, o.baseUrl, isHttps(req, o.trustsForwardedHeaders(req)))];
    },

    /**
     * Jupyter's login form, posted. The right token: the login cookie and a
     * redirect to where the browser was going. Anything else goes on to
     * Jupyter as typed (minus a token of ours), so it shows its own message.
     */
    async submit(req: IncomingMessage, res: ServerResponse): Promise<LoginOutcome> {
      const form = await readForm(req);
      if (form === null) {
        sendError(res, new WorkspaceError(413, 'A login form is smaller than this.', 'too_large'));
        return { answered: true };
      }
      const typed = form.get('password') ?? '';
      if (typed && sameSecret(typed, o.token)) {
        const next = safeNext(searchParams(req.url).get('next') ?? form.get('next'), o.baseUrl);
        res.writeHead(302, [
          'Location',
          next,
          'Cache-Control',
          'no-store',
          'Content-Length',
          '0',
          ...this.loginHeaders(req)
        ]);
        res.end();
        return { answered: true };
      }
      const sent = new URLSearchParams();
      for (const [name, value] of form) {
        if (name === '_xsrf' || name === 'next') {
          sent.append(name, value);
        }
      }
      sent.append('password', typed && o.isProtected(typed) ? 'not-the-token' : typed);
      return { answered: false, body: Buffer.from(sent.toString()) };
    }
  };
}

export type Login = ReturnType<typeof createLogin>;
