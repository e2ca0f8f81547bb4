import { RESET_CONFIRMATION } from '@jupyterlab-gpu-workspace/api';
import { badRequest, WorkspaceError } from '../../errors';
import type { Logger } from '../../log';
import type { ResetService } from '../../reset/service';
import { objectBody } from '../body';
import { ApiRoutes, callerOf } from './route';

export interface ResetDeps {
  /** Absent in tests that need none. */
  reset?: ResetService;
  log: Logger;
}

const TYPE_IT = `To reset, send {"confirm": "${RESET_CONFIRMATION}"}: the exact words, as the dialog asks the user to type them.`;

/** A JSON object with exactly these keys, each a string; anything else is refused with what to send. */
function stringFields(req: { body?: unknown }, keys: string[], advice: string): Record<string, string> {
  let b: Record<string, unknown>;
  try {
    b = objectBody(req, keys);
  } catch (err) {
    throw err instanceof WorkspaceError ? badRequest(`${err.message} ${advice}`) : err;
  }
  for (const k of keys) {
    if (b[k] === undefined) {
      throw badRequest(`"${k}" is missing. ${advice}`);
    }
    if (typeof b[k] !== 'string') {
      throw badRequest(`"${k}" must be a string. ${advice}`);
    }
  }
  return b as Record<string, string>;
}

/**
 * Reset Data. POST reset answers once the reset is over (the snapshot, the
 * swap, the post-reset hook and Jupyter's start: seconds, or up to the hook's
 * time limit); meanwhile GET reset says which step runs, for the page's
 * progress line.
 */
export function resetRoutes(routes: ApiRoutes, { reset, log }: ResetDeps): void {
  const service = (): ResetService => {
    if (!reset) {
      throw new WorkspaceError(503, 'Reset Data is not set up in this workspace.', 'internal');
    }
    return reset;
  };

  routes.add('GET /reset', {}, async (_req, res) => {
    const found = service();
    await found.whenReady();
    res.json(found.status());
  });

  routes.add('POST /reset', {}, async (req, res) => {
    const { confirm } = stringFields(req, ['confirm'], TYPE_IT);
    if (confirm !== RESET_CONFIRMATION) {
      throw badRequest(`That is not the confirmation: nothing was reset. ${TYPE_IT}`);
    }
    const user = callerOf(res).identity.username;
    log.info('reset requested', { user });
    res.json(await service().reset(user));
  });

  routes.add('POST /reset/undo', {}, async (req, res) => {
    const { snapshot_id } = stringFields(req, ['snapshot_id'], 'Send {"snapshot_id": "…"} with the pre-reset snapshot\'s id that POST reset answered.');
    const user = callerOf(res).identity.username;
    log.info('reset undo requested', { user, snapshot: snapshot_id });
    res.json(await service().undo(snapshot_id, user));
  });
}
