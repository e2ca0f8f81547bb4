import { RESET_CONFIRMATION } from '@jupyterlab-gpu-workspace/api';
import type { ResetResponse, ResetStatusResponse, ResetUndoResponse } from '@jupyterlab-gpu-workspace/api';
import type { ApiRequest as Request, ApiResponse as Response, Router } from './router';
import { badRequest, WorkspaceError } from '../errors';
import { objectBody } from './body';
import { Logger } from '../log';
import { ResetService } from '../reset/service';
import { Caller } from './auth';

type Handler = (req: Request, res: Response, caller: Caller) => Promise<void> | void;
type Authed = (handler: Handler) => (req: Request, res: Response) => Promise<void>;

const TYPE_IT = `To reset, send {"confirm": "${RESET_CONFIRMATION}"}: the exact words, as the dialog asks the user to type them.`;

/** A JSON object with exactly these keys, each a string; anything else is refused with what to send. */
function stringFields(req: Request, keys: string[], advice: string): Record<string, string> {
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
export function addResetRoutes(router: Router, authed: Authed, service: () => ResetService | undefined, log: Logger): void {
  const reset = (): ResetService => {
    const found = service();
    if (!found) {
      throw new WorkspaceError(503, 'Reset Data is not set up in this workspace.', 'internal');
    }
    return found;
  };

  router.get(
    '/reset',
    authed(async (_req, res) => {
      const service = reset();
      await service.whenReady();
      const answer: ResetStatusResponse = service.status();
      res.json(answer);
    })
  );

  router.post(
    '/reset',
    authed(async (req, res, caller) => {
      const { confirm } = stringFields(req, ['confirm'], TYPE_IT);
      if (confirm !== RESET_CONFIRMATION) {
        throw badRequest(`That is not the confirmation: nothing was reset. ${TYPE_IT}`);
      }
      log.info('reset requested', { user: caller.identity.username });
      const answer: ResetResponse = await reset().reset(caller.identity.username);
      res.json(answer);
    })
  );

  router.post(
    '/reset/undo',
    authed(async (req, res, caller) => {
      const { snapshot_id } = stringFields(req, ['snapshot_id'], 'Send {"snapshot_id": "…"} with the pre-reset snapshot\'s id that POST reset answered.');
      log.info('reset undo requested', { user: caller.identity.username, snapshot: snapshot_id });
      const answer: ResetUndoResponse = await reset().undo(snapshot_id, caller.identity.username);
      res.json(answer);
    })
  );
}
