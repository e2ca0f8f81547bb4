import type { HookRunListResponse, HookRunResponse } from '@jupyterlab-gpu-workspace/api';
import type { ApiRequest as Request, ApiResponse as Response, Router } from './router';
import { badRequest, notFound } from '../errors';
import { PtyHookRunner } from '../hooks/runner';
import { Caller } from './auth';

type Handler = (req: Request, res: Response, caller: Caller) => Promise<void> | void;
type Authed = (handler: Handler) => (req: Request, res: Response) => Promise<void>;

const RUN_ID = /^[0-9a-f]{12}$/;

/** Reads `since` (an output offset): absent means from the start. */
function sinceOf(req: Request): number {
  const raw = req.query.get('since');
  if (raw === null || raw === '') {
    return 0;
  }
  if (!/^\d{1,15}$/.test(raw)) {
    throw badRequest('since must be a whole number: the output_end of an earlier answer.');
  }
  return Number(raw);
}

/** The hook log panel's routes: the latest runs, and one run's output (from an offset, to follow it). */
export function addHookRoutes(router: Router, authed: Authed, runner: () => PtyHookRunner | undefined): void {
  const hooksOf = (): PtyHookRunner => {
    const found = runner();
    if (!found) {
      throw notFound('This workspace runs no operator hooks.');
    }
    return found;
  };
  router.get(
    '/hooks/runs',
    authed((_req, res) => {
      const answer: HookRunListResponse = { runs: hooksOf().list() };
      res.json(answer);
    })
  );

  router.get(
    '/hooks/runs/:id',
    authed((req, res) => {
      const id = String(req.params.id ?? '');
      if (!RUN_ID.test(id)) {
        throw badRequest('The run id is the id of a run that GET hooks/runs lists.');
      }
      const answer: HookRunResponse | null = hooksOf().read(id, sinceOf(req));
      if (!answer) {
        throw notFound(`No hook run ${id} is kept (only the latest runs are).`);
      }
      res.json(answer);
    })
  );
}
