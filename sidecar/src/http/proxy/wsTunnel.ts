/**
 * WebSocket upgrades to Jupyter: one handshake through its Unix socket, then
 * the two sockets are joined byte for byte. Frames are never parsed,
 * buffered or compressed here (the browser and Jupyter negotiate
 * permessage-deflate between themselves, if at all).
 */
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { ForwardCredentials, forwardedRequestHeaders, RawHeaders } from './headers';

export interface TunnelOptions {
  socketPath: string;
  /** The request target for Jupyter (the client's, without our token parameters). */
  path: string;
  /** What Jupyter is told about who asks, instead of the client's credentials. */
  credentials: ForwardCredentials;
  /** Keep the client's X-Forwarded-* headers (the peer is a trusted proxy). */
  trustForwarded: boolean;
  /** The handshake failed while the browser still waits: answer it (502). */
  fail: (socket: Socket, error: Error) => void;
  /** The browser left, or a joined tunnel broke: nothing to answer, worth a debug line. */
  ended: (error?: Error) => void;
}

function headBlock(statusLine: string, raw: RawHeaders): string {
  let head = statusLine + '\r\n';
  for (let i = 0; i < raw.length; i += 2) {
    head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  return head + '\r\n';
}

export function tunnelWebSocket(req: http.IncomingMessage, socket: Socket, head: Buffer, options: TunnelOptions): void {
  socket.setNoDelay(true);
  socket.setTimeout(0);
  const upReq = http.request({
    socketPath: options.socketPath,
    method: req.method,
    path: options.path,
    headers: forwardedRequestHeaders(req, true, options.trustForwarded, options.credentials),
    // Its own connection: an upgraded socket leaves the pool anyway.
    agent: false
  });
  let joined = false;
  let reported = false;
  /** Reports the tunnel's end once, however many of its sockets noticed. */
  const end = (err?: Error): void => {
    if (!reported) {
      reported = true;
      options.ended(err);
    }
  };
  let clientError: Error | undefined;
  const onClientClose = (): void => {
    if (!joined) {
      upReq.destroy();
      end(clientError);
    }
  };
  socket.once('close', onClientClose);
  socket.on('error', err => (clientError = err));

  upReq.once('error', err => {
    if (socket.destroyed) {
      return; // the browser left first; onClientClose said so
    }
    reported = true;
    options.fail(socket, err);
  });

  upReq.once('upgrade', (upRes: http.IncomingMessage, upSocket: Socket, upHead: Buffer) => {
    joined = true;
    socket.off('close', onClientClose);
    if (socket.destroyed) {
      upSocket.destroy();
      end(clientError);
      return;
    }
    upSocket.setNoDelay(true);
    upSocket.setTimeout(0);
    // One side closing ends the other gently (what it still has to send goes out
    // first); an error (a reset: a closed tab, a stopped kernel) cuts both at once.
    // The tunnel's end is reported once.
    const cut = (err: Error): void => {
      socket.destroy();
      upSocket.destroy();
      end(err);
    };
    socket.on('error', cut);
    upSocket.on('error', cut);
    socket.once('close', () => {
      upSocket.end();
      end(clientError);
    });
    upSocket.once('close', () => {
      socket.end();
      end();
    });

    socket.write(headBlock(`HTTP/1.1 101 ${upRes.statusMessage || 'Switching Protocols'}`, upRes.rawHeaders));
    if (upHead.length) {
      socket.write(upHead);
    }
    if (head.length) {
      upSocket.write(head);
    }
    upSocket.pipe(socket);
    socket.pipe(upSocket);
  });

  // Jupyter refused the upgrade (no such kernel, not logged in, bad origin): pass its answer on.
  upReq.once('response', (upRes: http.IncomingMessage) => {
    const chunks: Buffer[] = [];
    upRes.on('data', (chunk: Buffer) => chunks.push(chunk));
    upRes.once('end', () => {
      const body = Buffer.concat(chunks);
      const raw: RawHeaders = [];
      for (let i = 0; i < upRes.rawHeaders.length; i += 2) {
        const lower = upRes.rawHeaders[i].toLowerCase();
        if (lower !== 'connection' && lower !== 'transfer-encoding' && lower !== 'content-length' && lower !== 'keep-alive') {
          raw.push(upRes.rawHeaders[i], upRes.rawHeaders[i + 1]);
        }
      }
      raw.push('Content-Length', String(body.length), 'Connection', 'close');
      if (socket.writable) {
        socket.end(Buffer.concat([Buffer.from(headBlock(`HTTP/1.1 ${upRes.statusCode} ${upRes.statusMessage}`, raw)), body]));
      }
    });
  });
  upReq.end();
}
