import * as http from 'node:http';
import type { Socket } from 'node:net';
import { StartupError, WorkspaceError } from '../errors';
import { FrontDoorGuard } from './guard';
import { JupyterProxy } from './proxy';
import type { StoppedGate } from '../idle/stoppedGate';

export interface FrontDoorOptions {
  /** Where the sidecar's own API is mounted, e.g. "/user/alice/gpu-workspace/api/v1". */
  apiPrefix: string;
  /** The API's request handler (`createApi` in api.ts). */
  api: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  /** Everything that is not the API goes to Jupyter through this. */
  proxy: JupyterProxy;
  /** Checks every request before it goes anywhere (Host, operator token, WebSocket Origin). */
  guard: FrontDoorGuard;
  /** Answers Jupyter's requests itself while the workspace is stopped for inactivity. */
  stoppedGate?: StoppedGate;
  /** Refuses uploads that would cross the home's cap (413) before they reach Jupyter. */
  uploadGuard?: (req: http.IncomingMessage) => WorkspaceError | null;
}

/** As much header as Jupyter (tornado) accepts: cookie-heavy JupyterHub domains need it. */
export const MAX_HEADER_BYTES = 64 * 1024;

function refuse(res: http.ServerResponse, err: WorkspaceError): void {
  res.writeHead(err.status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify({ message: err.message, code: err.code }));
}

function refuseUpgrade(socket: Socket, err: WorkspaceError): void {
  const body = JSON.stringify({ message: err.message, code: err.code });
  socket.end(
    `HTTP/1.1 ${err.status} ${http.STATUS_CODES[err.status]}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

/**
 * The one public port: the sidecar's API under its prefix, everything else
 * (HTTP and WebSockets) proxied to Jupyter's private socket.
 */
export function createFrontDoor(options: FrontDoorOptions): http.Server {
  const { apiPrefix, api, proxy, guard, stoppedGate, uploadGuard } = options;
  /** Runs the guard; false (and the refusal sent) when the request must stop here. */
  const admitted = (req: http.IncomingMessage, target: 'api' | 'jupyter', upgrade: boolean, refuseWith: (err: WorkspaceError) => void): boolean => {
    try {
      guard.check(req, target, upgrade);
      return true;
    } catch (err) {
      if (err instanceof WorkspaceError) {
        refuseWith(err);
        return false;
      }
      throw err;
    }
  };
  const isApi = (url: string | undefined): boolean =>
    !!url && (url === apiPrefix || url.startsWith(apiPrefix + '/') || url.startsWith(apiPrefix + '?'));

  const server = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (req, res) => {
    const target = isApi(req.url) ? 'api' : 'jupyter';
    if (!admitted(req, target, false, err => refuse(res, err))) {
      return;
    }
    if (target === 'api') {
      api(req, res);
      return;
    }
    if (stoppedGate?.web(req, res)) {
      return;
    }
    const refusal = uploadGuard?.(req);
    if (refusal) {
      // The body is read and dropped rather than cut off: a browser whose upload is cut mid-body
      // reports a network error instead of showing the 413's message.
      req.resume();
      refuse(res, refusal);
      return;
    }
    void proxy.web(req, res);
  });
  // Small WebSocket frames (kernel messages) must not wait for Nagle's algorithm.
  server.on('connection', (socket: Socket) => socket.setNoDelay(true));
  server.on('upgrade', (req, socket: Socket, head: Buffer) => {
    if (!admitted(req, isApi(req.url) ? 'api' : 'jupyter', true, err => refuseUpgrade(socket, err))) {
      return;
    }
    if (isApi(req.url)) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{"message":"No WebSocket routes here."}');
      return;
    }
    if (!stoppedGate?.upgrade(req, socket)) {
      void proxy.ws(req, socket, head);
    }
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (socket.writable) {
      const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
      const body = JSON.stringify({
        message: tooLarge ? `Request headers are larger than ${MAX_HEADER_BYTES / 1024} KiB. Clear this site's cookies and try again.` : 'Malformed request.',
        code: tooLarge ? 'too_large' : 'bad_request'
      });
      socket.end(
        `HTTP/1.1 ${tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
      );
    }
  });
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
