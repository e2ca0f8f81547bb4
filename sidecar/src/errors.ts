import type { ErrorCode, HookFailure } from '@jupyterlab-gpu-workspace/api';

/**
 * Typed errors that API handlers map to an HTTP status and a JSON message.
 * Components throw these; handlers never build status codes themselves. The
 * codes are the wire contract's, so the frontend and the tests read the same.
 */
export class WorkspaceError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: ErrorCode,
    /** Extra fields of the JSON answer beside message and code (e.g. `largest` of an over-cap refusal). */
    readonly details: Record<string, unknown> = {}
  ) {
    super(message);
    this.name = 'WorkspaceError';
  }
}

export const badRequest = (message: string): WorkspaceError => new WorkspaceError(400, message, 'bad_request');
export const unauthorized = (message: string): WorkspaceError => new WorkspaceError(401, message, 'unauthorized');
export const forbidden = (message: string): WorkspaceError => new WorkspaceError(403, message, 'forbidden');
export const notFound = (message: string): WorkspaceError => new WorkspaceError(404, message, 'not_found');
/** Another switch or restart is under way: try again once it ends. */
export const busy = (message: string): WorkspaceError => new WorkspaceError(409, message, 'busy');
/** The ledger's own state forbids it (a session already open, or none open). */
export const conflict = (message: string): WorkspaceError => new WorkspaceError(409, message, 'conflict');
/** The sidecar is shutting down: nothing new starts. */
export const stopping = (): WorkspaceError =>
  new WorkspaceError(503, 'The workspace service is shutting down.', 'stopping');
/** Snapshots cannot be used right now; the message says why (the repository's password, restic failing). */
export const snapshotsUnavailable = (message: string): WorkspaceError => new WorkspaceError(503, message, 'snapshots_unavailable');
export const jupyterUnavailable = (message: string): WorkspaceError => new WorkspaceError(503, message, 'jupyter_unavailable');

/** Jupyter was stopped for inactivity: only status, events and server/start answer. */
export const stoppedForIdle = (): WorkspaceError =>
  new WorkspaceError(503, 'The workspace was stopped because nothing was happening. Start it again (POST server/start, or the Start button on its page).', 'stopped');
export const rateLimited = (message: string): WorkspaceError => new WorkspaceError(429, message, 'rate_limited');

/** A start-up problem the operator must fix; the CLI prints it and exits non-zero. */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

/** An operator hook failed or hit its time limit; the body carries the run and its log's end (the UI offers the whole log). */
export const hookFailed = (message: string, hook: HookFailure, status = 422): WorkspaceError =>
  new WorkspaceError(status, message, 'hook_failed', { hook });
