import { forbidden } from '../../errors';
import type { Logger } from '../../log';
import type { SubmitService } from '../../submit/service';
import { expectNoFields } from '../body';
import { ApiRoutes, callerOf } from './route';

export interface SubmitDeps {
  /** Absent where submission is not enabled: the routes say so. */
  submit?: SubmitService;
  log: Logger;
}

const NOT_ENABLED = 'Submission is not enabled in this workspace.';

/**
 * Submit Project. POST submit answers once the submission is delivered
 * (200 with the receipt) or not: 422 `submission_incomplete` with `missing`,
 * 413 `too_large` with `largest`, 422 `hook_failed` with the conversion's
 * run, 409 `busy` while another runs, and 502 `delivery_failed` whose body
 * carries the receipt (the archive is kept: POST submissions/{id}/retry).
 */
export function submitRoutes(routes: ApiRoutes, { submit, log }: SubmitDeps): void {
  const service = (): SubmitService => {
    if (!submit) {
      throw forbidden(NOT_ENABLED);
    }
    return submit;
  };

  routes.add('GET /submit', {}, async (_req, res) => {
    res.json(
      submit
        ? await submit.checklist()
        : { enabled: false, ready: false, reason: NOT_ENABLED, items: [], conversions: [], missing: [], total_bytes: 0, max_bytes: 0, file_count: 0, destination: null, running: null }
    );
  });

  routes.add('POST /submit', {}, async (req, res) => {
    expectNoFields(req);
    const user = callerOf(res).identity.username;
    log.info('submission requested', { user });
    res.json(await service().submit(user));
  });

  routes.add('GET /submissions', {}, (_req, res) => {
    res.json(submit ? submit.list() : { enabled: false, submissions: [], running: null });
  });

  routes.add('POST /submissions/:id/retry', {}, async (req, res) => {
    expectNoFields(req);
    const user = callerOf(res).identity.username;
    log.info('submission retry requested', { user, id: req.params.id });
    res.json(await service().retry(req.params.id, user));
  });
}
