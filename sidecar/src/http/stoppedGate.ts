import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { stoppedForIdle } from '../errors';
import type { IdleController } from '../idle/controller';
import { refuseOnSocket, sendError } from './answers';
import { FrontDoorAuth } from './auth';
import { parseCookies } from './credentials';
import { loginNeededPage, stoppedPage } from './stoppedPage';

/** Jupyter's page routes below the base URL (not its REST API, static files or WebSockets). */
const PAGE = /^(?:$|lab(?:[/?]|$)|tree(?:[/?]|$)|notebooks\/|edit\/|doc(?:[/?]|$)|consoles(?:[/?]|$)|terminals\/(?!websocket)|login(?:[/?]|$)|view\/)/;

export interface StoppedGateOptions {
  baseUrl: string;
  apiPrefix: string;
  idle: IdleController;
  auth: FrontDoorAuth;
  /** The login cookie for a browser that came with the token in the URL (so its Start button works). */
  loginCookie: (req: IncomingMessage) => string;
}

export interface StoppedGate {
  /** Answers a request for Jupyter while the workspace is stopped; false when it is not stopped (the request goes on). */
  web(req: IncomingMessage, res: ServerResponse): boolean;
  /** Refuses a WebSocket for Jupyter while stopped; false when it is not stopped. */
  upgrade(req: IncomingMessage, socket: Socket): boolean;
}

/**
 * While the workspace is stopped for inactivity, nothing reaches Jupyter
 * (it is down): page URLs get the stopped page, if the caller has the
 * workspace's credentials (checked by the sidecar itself), or a page that
 * reveals nothing; everything else a 503 saying the workspace is stopped.
 */
export function createStoppedGate(o: StoppedGateOptions): StoppedGate {
  const isPage = (req: IncomingMessage): boolean => {
    const method = (req.method ?? 'GET').toUpperCase();
    const url = req.url ?? '/';
    if ((method !== 'GET' && method !== 'HEAD') || !url.startsWith(o.baseUrl)) {
      return false;
    }
    return PAGE.test(url.slice(o.baseUrl.length));
  };
  const send = (res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string | string[]> = {}): void => {
    res.writeHead(status, {
      'content-type': type,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'self'",
      ...extra
    });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  };

  return {
    web(req, res): boolean {
      if (!o.idle.isStopped) {
        return false;
      }
      if (!isPage(req)) {
        sendError(res, stoppedForIdle());
        return true;
      }
      let caller;
      try {
        caller = o.auth.authenticate(req);
      } catch {
        send(res, 401, 'text/html; charset=utf-8', loginNeededPage());
        return true;
      }
      if (caller.scope !== 'user') {
        send(res, 403, 'text/html; charset=utf-8', loginNeededPage());
        return true;
      }
      const status = o.idle.status();
      // The Start button's cookie-authenticated POST needs the XSRF double submit; Jupyter set _xsrf
      // on earlier pages, but a browser may not have it: then the page gets one (a plain token is accepted).
      const cookies: string[] = [];
      if (!parseCookies(req.headers.cookie).has('_xsrf')) {
        cookies.push(`_xsrf=${randomBytes(16).toString('hex')}; Path=${o.baseUrl}; SameSite=Lax`);
      }
      if (caller.via === 'token' && req.headers.authorization === undefined) {
        cookies.push(o.loginCookie(req));
      }
      const extra: Record<string, string[]> = cookies.length ? { 'set-cookie': cookies } : {};
      send(res, 200, 'text/html; charset=utf-8', stoppedPage({ stoppedAt: status.stopped_at, timeoutMinutes: status.timeout_minutes, apiPrefix: o.apiPrefix, starting: status.starting }), extra);
      return true;
    },
    upgrade(_req, socket): boolean {
      if (!o.idle.isStopped) {
        return false;
      }
      refuseOnSocket(socket, stoppedForIdle());
      return true;
    }
  };
}
