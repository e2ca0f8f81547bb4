import * as http from 'node:http';
import type { Socket } from 'node:net';
import { badRequest, notFound, StartupError, unauthorized, WorkspaceError } from '../errors';
import { internalError, refuseOnSocket, sendError } from './answers';
import { Logger } from '../log';
import { FrontDoorAuth, Identification } from './auth';
import { pathOf } from './credentials';
import { FrontDoorGuard } from './guard';
import { Login } from './login';
import { ForwardAs, ForwardOptions, hasBody, JupyterProxy } from './proxy';
import type { StoppedGate } from './stoppedGate';
import type { UploadVerdict } from './uploadGuard';

export interface FrontDoorOptions {
  /** Where the sidecar's own API is mounted, e.g. "/user/alice/gpu-workspace/api/v1". */
  apiPrefix: string;
  /** The API's request handler (`createApi` in api.ts). */
  api: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  /** Everything that is not the API goes to Jupyter through this. */
  proxy: JupyterProxy;
  /** Checks every request before it goes anywhere (Host, tokens that must not go on, WebSocket Origin). */
  guard: FrontDoorGuard;
  /** Who is calling: the front door checks every credential itself. */
  auth: FrontDoorAuth;
  /** Jupyter's login form and logout, answered here. */
  login: Login;
  /** Answers Jupyter's requests itself while the workspace is stopped for inactivity. */
  stoppedGate?: StoppedGate;
  /** Refuses (413) or limits uploads that would cross the home's cap before they reach Jupyter. */
  uploadGuard?: (req: http.IncomingMessage) => UploadVerdict;
  /** How long an idle client connection is kept for its next request, in ms. */
  keepAliveTimeoutMs: number;
  log: Logger;
}

/** As much header as Jupyter (tornado) accepts: cookie-heavy JupyterHub domains need it. */
export const MAX_HEADER_BYTES = 64 * 1024;

/**
 * Applies the upload guard's verdict to a request on its way to Jupyter:
 * true when it was refused (answered 413 here), else the body limit, if any,
 * is set on `forward` and the admission settles once Jupyter has answered.
 */
function applyUploadVerdict(verdict: NonNullable<UploadVerdict>, req: http.IncomingMessage, res: http.ServerResponse, forward: ForwardOptions): boolean {
  if ('refuse' in verdict) {
    // The body is read and dropped rather than cut off: a browser whose upload is cut mid-body
    // reports a network error instead of showing the 413's message.
    req.resume();
    sendError(res, verdict.refuse);
    return true;
  }
  const admission = verdict.admitted;
  let bodyBytes = Number(req.headers['content-length'] ?? 0);
  if (admission.limit) {
    forward.bodyLimit = { bytes: admission.limit.maxBodyBytes, refusal: admission.limit.overLimit, passed: bytes => (bodyBytes = bytes) };
  }
  // Written only once Jupyter said so: until then the upload counts as under way.
  res.once('close', () => admission.settle(res.writableFinished && res.statusCode < 300, bodyBytes));
  return false;
}

type Fail = (err: unknown) => void;

/** Jupyter's routes: who the caller is decides what Jupyter is told. Synchronous on the hot path. */
function jupyterHandler(options: FrontDoorOptions): (req: http.IncomingMessage, res: http.ServerResponse, fail: Fail) => void {
  const { proxy, auth, login, stoppedGate, uploadGuard } = options;
  return (req, res, fail) => {
    if (stoppedGate?.web(req, res)) {
      return;
    }
    if (login.isLoginForm(req)) {
      login
        .submit(req, res)
        .then(outcome => (outcome.answered ? undefined : proxy.web(req, res, { as: 'anonymous', body: outcome.body })))
        .catch(fail);
      return;
    }
    const who: Identification = auth.identify(req);
    const as: ForwardAs = who.kind === 'user' ? 'user' : 'anonymous';
    if (as === 'anonymous' && hasBody(req)) {
      // Jupyter reads credentials from form bodies too (?token= in the body): no body goes to it
      // unless the front door knows who sent it.
      req.resume();
      sendError(res, unauthorized('Authentication required: log in to the workspace, or send "Authorization: token <token>".'));
      return;
    }
    if (who.kind === 'user' && who.via === 'cookie') {
      auth.checkCookieWrite(req);
    }
    const forward: ForwardOptions = { as };
    if (login.isLogout(req)) {
      forward.responseHeaders = login.logoutHeaders(req);
    } else if (who.kind === 'user' && who.fromQuery && req.method === 'GET') {
      forward.responseHeaders = login.loginHeaders(req);
    }
    const verdict = as === 'user' ? uploadGuard?.(req) : null;
    if (verdict && applyUploadVerdict(verdict, req, res, forward)) {
      return;
    }
    proxy.web(req, res, forward).catch(fail);
  };
}

/** Requests Node could not parse, answered on the socket under the same contract. */
function refuseClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    refuseOnSocket(socket, new WorkspaceError(431, `Request headers are larger than ${MAX_HEADER_BYTES / 1024} KiB. Clear this site's cookies and try again.`, 'too_large'));
  } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    refuseOnSocket(socket, new WorkspaceError(408, 'The request took too long to arrive.', 'bad_request'));
  } else {
    refuseOnSocket(socket, badRequest('Malformed request.'));
  }
}

/** Every upgrade under one catch: a refusal or an unexpected error is answered whole on the socket. */
function answerUpgrades(
  server: http.Server,
  onUpgrade: (req: http.IncomingMessage, socket: Socket, head: Buffer) => Promise<void>,
  unexpected: (err: unknown, req: http.IncomingMessage) => void
): void {
  server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    // An upgraded socket is ours: Node no longer reports its errors anywhere else.
    socket.on('error', () => socket.destroy());
    const fail: Fail = err => {
      if (err instanceof WorkspaceError) {
        refuseOnSocket(socket, err);
        return;
      }
      unexpected(err, req);
      refuseOnSocket(socket, internalError());
    };
    try {
      onUpgrade(req, socket, head).catch(fail);
    } catch (err) {
      fail(err);
    }
  });
}

/**
 * The one public port: the sidecar's API under its prefix, everything else
 * (HTTP and WebSockets) proxied to Jupyter's private socket. No request can
 * take the process down: every handler runs under one catch, and anything
 * unexpected is logged once and answered 500 (or the socket closed, when an
 * answer was already under way).
 */
export function createFrontDoor(options: FrontDoorOptions): http.Server {
  const { apiPrefix, api, proxy, guard, auth, stoppedGate, log } = options;
  const toJupyter = jupyterHandler(options);
  const isApi = (url: string | undefined): boolean => {
    const path = pathOf(url);
    return path === apiPrefix || path.startsWith(apiPrefix + '/');
  };
  const unexpected = (err: unknown, req: http.IncomingMessage): void => {
    log.error('unexpected error at the front door', { method: req.method, path: pathOf(req.url).slice(0, 200), error: (err as Error)?.stack ?? String(err) });
  };

  const onUpgrade = async (req: http.IncomingMessage, socket: Socket, head: Buffer): Promise<void> => {
    const target = isApi(req.url) ? 'api' : 'jupyter';
    guard.check(req, target, true);
    if (target === 'api') {
      refuseOnSocket(socket, notFound('No WebSocket routes here.'));
      return;
    }
    if (stoppedGate?.upgrade(req, socket)) {
      return;
    }
    const who = auth.identify(req);
    await proxy.ws(req, socket, head, who.kind === 'user' ? 'user' : 'anonymous');
  };

  const server = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (req, res) => {
    const fail: Fail = err => {
      if (err instanceof WorkspaceError) {
        req.resume();
        sendError(res, err);
        return;
      }
      unexpected(err, req);
      sendError(res, internalError());
    };
    try {
      const target = isApi(req.url) ? 'api' : 'jupyter';
      guard.check(req, target, false);
      if (target === 'api') {
        api(req, res);
      } else {
        toJupyter(req, res, fail);
      }
    } catch (err) {
      fail(err);
    }
  });
  // Long, as tornado keeps them (an hour), and announced in Keep-Alive: timeout=N; Node closes a second
  // after that. With Node's default of 5 s, a client reusing a connection as it closed got a reset: on a busy
  // machine either side can be late by that much, and JupyterLab and scripts poll at intervals beyond it.
  server.keepAliveTimeout = options.keepAliveTimeoutMs;
  // Small WebSocket frames (kernel messages) must not wait for Nagle's algorithm.
  server.on('connection', (socket: Socket) => socket.setNoDelay(true));
  answerUpgrades(server, onUpgrade, unexpected);
  server.on('clientError', refuseClientError);
  return server;
}

/** Listens, turning the usual failures into a message for the operator. */
export function listen(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      if (err.code === 'EADDRINUSE') {
        reject(new StartupError(`Port ${port} on ${host} is already in use. Stop what uses it, or choose another with --port.`));
      } else if (err.code === 'EACCES') {
        reject(new StartupError(`No permission to listen on ${host}:${port}. Use a port above 1024.`));
      } else {
        reject(new StartupError(`Cannot listen on ${host}:${port}: ${err.message}`));
      }
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as { port: number }).port);
    });
  });
}
