/**
 * Sends Jupyter's answer on to the browser as it came. Bodies stream
 * through: a large download is never held whole in memory.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { forwardedResponseHeaders } from './headers';

/** Relays `up` (Jupyter's response) to `res`; `done` runs once, with an error if Jupyter's side broke off. */
export function relay(res: ServerResponse, up: IncomingMessage, done: (error?: Error) => void): void {
  res.writeHead(up.statusCode ?? 502, up.statusMessage, forwardedResponseHeaders(up.rawHeaders));
  flow(up, res, done);
}

/**
 * up → res, with backpressure. Like stream.pipeline, minus the
 * AbortController and DOMException it builds per call, which showed in the
 * per-request profile. `done` runs once: when the body is complete, or with the
 * error when Jupyter's side broke (then the browser's response is cut, as it
 * must be: its headers are gone already). A browser that leaves is noticed by
 * the caller, which destroys Jupyter's side.
 */
function flow(up: IncomingMessage, res: ServerResponse, done: (error?: Error) => void): void {
  let finished = false;
  const finish = (err?: Error): void => {
    if (!finished) {
      finished = true;
      if (err) {
        res.destroy();
      }
      done(err);
    }
  };
  up.once('error', finish);
  up.once('close', () => {
    if (!up.complete) {
      finish(new Error('Jupyter closed the connection mid-response'));
    }
  });
  up.once('end', () => finish());
  up.pipe(res);
}
