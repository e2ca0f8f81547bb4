/**
 * Telling a browser that went away from a real failure. Tabs close, pages
 * reload and downloads get cancelled all day: that is not worth a warning in
 * the operator's log, while a Jupyter that does not answer is.
 */

/** Error codes a socket reports when its peer simply went away. */
const PEER_GONE = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED']);

/** True for errors that only say the other end closed (reset, broken pipe, aborted request). */
export function isDisconnect(err: unknown): boolean {
  if (!(err instanceof Error)) {
    return false;
  }
  const code = (err as NodeJS.ErrnoException).code;
  return (code !== undefined && PEER_GONE.has(code)) || err.message === 'aborted';
}
