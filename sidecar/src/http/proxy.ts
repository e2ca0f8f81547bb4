import * as http from 'node:http';
import type { Socket } from 'node:net';
import { createProxyServer } from 'http-proxy-3';
import { Logger } from '../log';

export interface JupyterProxyOptions {
  socketPath: string;
  /** True while Jupyter runs: the hot path forwards at once, without a promise per request. */
  isRunning: () => boolean;
  /** Resolves true when Jupyter is (back) up; requests wait on it during a restart. */
  waitForJupyter: () => Promise<boolean>;
  log: Logger;
}

function sendJson(res: http.ServerResponse, status: number, body: Record<string, unknown>): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

function rejectUpgrade(socket: Socket, status: number, message: string): void {
  if (!socket.writable) {
    return;
  }
  const body = JSON.stringify({ message });
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

const UNAVAILABLE = 'The Jupyter server is restarting or not running. Try again in a moment.';

/**
 * Forwards every HTTP request and WebSocket that is not the sidecar's own to
 * Jupyter's Unix socket. The Host header is kept (Jupyter checks it against
 * Origin for WebSockets) and upstream connections are pooled.
 */
export class JupyterProxy {
  private readonly proxy;
  private readonly agent: http.Agent;

  constructor(private readonly options: JupyterProxyOptions) {
    // A keep-alive pool to the socket: a new connection per request would add a round trip to every REST call.
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    this.proxy = createProxyServer({
      target: { socketPath: options.socketPath, host: 'localhost', port: 80 },
      agent: this.agent,
      ws: true,
      xfwd: true,
      changeOrigin: false
    });
    this.proxy.on('error', (err, _req, res) => {
      options.log.warn('proxy error', { error: err.message });
      if (res instanceof http.ServerResponse) {
        sendJson(res, 502, { message: `The Jupyter server did not answer: ${err.message}` });
      } else {
        rejectUpgrade(res as Socket, 502, `The Jupyter server did not answer: ${err.message}`);
      }
    });
  }

  async web(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (this.options.isRunning()) {
      this.proxy.web(req, res);
      return;
    }
    if (!(await this.options.waitForJupyter())) {
      res.setHeader('retry-after', '5');
      sendJson(res, 503, { message: UNAVAILABLE });
      return;
    }
    this.proxy.web(req, res);
  }

  async ws(req: http.IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    socket.setNoDelay(true);
    if (!(await this.options.waitForJupyter())) {
      rejectUpgrade(socket, 503, UNAVAILABLE);
      return;
    }
    this.proxy.ws(req, socket, head);
  }

  close(): void {
    this.proxy.close();
    this.agent.destroy();
  }
}
