import * as http from 'node:http';
import type { Socket } from 'node:net';
import { StartupError } from '../errors';
import { JupyterProxy } from './proxy';

export interface FrontDoorOptions {
  /** Where the sidecar's own API is mounted, e.g. "/user/alice/gpu-workspace/api/v1". */
  apiPrefix: string;
  /** The API's request handler (express). */
  api: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  /** Everything that is not the API goes to Jupyter through this. */
  proxy: JupyterProxy;
}

/**
 * The one public port: the sidecar's API under its prefix, everything else
 * (HTTP and WebSockets) proxied to Jupyter's private socket.
 */
export function createFrontDoor(options: FrontDoorOptions): http.Server {
  const { apiPrefix, api, proxy } = options;
  const isApi = (url: string | undefined): boolean =>
    !!url && (url === apiPrefix || url.startsWith(apiPrefix + '/') || url.startsWith(apiPrefix + '?'));

  const server = http.createServer((req, res) => {
    if (isApi(req.url)) {
      api(req, res);
    } else {
      void proxy.web(req, res);
    }
  });
  // Small WebSocket frames (kernel messages) must not wait for Nagle's algorithm.
  server.on('connection', (socket: Socket) => socket.setNoDelay(true));
  server.on('upgrade', (req, socket: Socket, head: Buffer) => {
    if (isApi(req.url)) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{"message":"No WebSocket routes here."}');
      return;
    }
    void proxy.ws(req, socket, head);
  });
  server.on('clientError', (_err, socket: Socket) => {
    if (socket.writable) {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
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
