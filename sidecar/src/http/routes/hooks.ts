import { badRequest, notFound } from '../../errors';
import type { PtyHookRunner } from '../../hooks/runner';
import { ApiRoutes } from './route';

export interface HookDeps {
  /** Absent where no operator hooks run. */
  hooks?: PtyHookRunner;
}

const RUN_ID = /^[0-9a-f]{12}$/;

/** Reads `since` (an output offset): absent means from the start. */
function sinceOf(raw: string | string[] | undefined): number {
  if (raw === undefined || raw === '') {
    return 0;
  }
  if (typeof raw !== 'string' || !/^\d{1,15}$/.test(raw)) {
    throw badRequest('since must be a whole number: the output_end of an earlier answer.');
  }
  return Number(raw);
}

/** The hook log panel's routes: the latest runs, and one run's output (from an offset, to follow it). */
export function hookRoutes(routes: ApiRoutes, { hooks }: HookDeps): void {
  const runner = (): PtyHookRunner => {
    if (!hooks) {
      throw notFound('This workspace runs no operator hooks.');
    }
    return hooks;
  };

  routes.add('GET /hooks/runs', {}, (_req, res) => {
    res.json({ runs: runner().list() });
  });

  routes.add('GET /hooks/runs/:id', {}, (req, res) => {
    const id = req.params.id;
    if (!RUN_ID.test(id)) {
      throw badRequest('The run id is the id of a run that GET hooks/runs lists.');
    }
    const answer = runner().read(id, sinceOf(req.query.since));
    if (!answer) {
      throw notFound(`No hook run ${id} is kept (only the latest runs are).`);
    }
    res.json(answer);
  });
}
