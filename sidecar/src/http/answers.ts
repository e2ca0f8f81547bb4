import * as http from 'node:http';
import type { Socket } from 'node:net';
import type { ErrorBody } from '@jupyterlab-gpu-workspace/api';
import { WorkspaceError } from '../errors';

/**
 * The one place that writes the sidecar's own answers: API results, every
 * refusal at the front door, and refused WebSocket upgrades. Every error
 * carries `message` and `code` as `packages/api`'s ErrorBody declares, with
 * Content-Length, so a client (the UI, a script, the Hub) reads every
 * refusal the same way, wherever in the sidecar it was decided.
 */

/** What a 500 says: the details go to the log, never to the client. */
export const INTERNAL_MESSAGE = 'Internal error in the workspace service; the details are in its log.';

export const internalError = (): WorkspaceError => new WorkspaceError(500, INTERNAL_MESSAGE, 'internal');

/** The JSON body of a refusal: its details first, which may add fields (`largest`) but never replace these two. */
export function errorBody(err: WorkspaceError): ErrorBody & Record<string, unknown> {
  return { ...err.details, message: err.message, code: err.code };
}

/**
 * A JSON answer. Once an answer is under way there is no other to give:
 * the connection is closed, so the client sees a failure, never a body cut
 * short that looks whole.
 */
export function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
    ...headers
  });
  res.end(res.req?.method === 'HEAD' ? undefined : text);
}

/** A refusal as JSON. */
export function sendError(res: http.ServerResponse, err: WorkspaceError, headers: http.OutgoingHttpHeaders = {}): void {
  sendJson(res, err.status, errorBody(err), headers);
}

/**
 * A whole HTTP/1.1 refusal on a raw socket: upgrades the front door will not
 * carry, and requests Node could not parse. The connection closes after it.
 */
export function refuseOnSocket(socket: Socket, err: WorkspaceError, headers: Record<string, string> = {}): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(errorBody(err));
  const extra = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${err.status} ${http.STATUS_CODES[err.status] ?? 'Error'}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Cache-Control: no-store\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}
