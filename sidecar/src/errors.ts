/**
 * Typed errors that API handlers map to an HTTP status and a JSON message.
 * Components throw these; handlers never build status codes themselves.
 */
export class WorkspaceError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string
  ) {
    super(message);
    this.name = 'WorkspaceError';
  }
}

export const badRequest = (message: string): WorkspaceError =>
  new WorkspaceError(400, message, 'bad_request');
export const unauthorized = (message: string): WorkspaceError =>
  new WorkspaceError(401, message, 'unauthorized');
export const forbidden = (message: string): WorkspaceError =>
  new WorkspaceError(403, message, 'forbidden');
export const notFound = (message: string): WorkspaceError =>
  new WorkspaceError(404, message, 'not_found');
export const conflict = (message: string): WorkspaceError =>
  new WorkspaceError(409, message, 'conflict');
export const unavailable = (message: string): WorkspaceError =>
  new WorkspaceError(503, message, 'unavailable');

/** A start-up problem the operator must fix; the CLI prints it and exits non-zero. */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}
