import type { SubmissionListResponse, SubmissionReceipt, SubmitChecklist } from '@jupyterlab-gpu-workspace/api';
import type { ApiRequest as Request, ApiResponse as Response, Router } from './router';
import { forbidden } from '../errors';
import { expectNoFields } from './body';
import { Logger } from '../log';
import { SubmitService } from '../submit/service';
import { Caller } from './auth';

type Handler = (req: Request, res: Response, caller: Caller) => Promise<void> | void;
type Authed = (handler: Handler) => (req: Request, res: Response) => Promise<void>;

/**
 * Submit Project. POST submit answers once the submission is delivered
 * (200 with the receipt) or not: 422 `submission_incomplete` with `missing`,
 * 413 `too_large` with `largest`, 422 `hook_failed` with the conversion's
 * run, 409 `busy` while another runs, and 502 `delivery_failed` whose body
 * carries the receipt (the archive is kept: POST submissions/{id}/retry).
 */
export function addSubmitRoutes(router: Router, authed: Authed, service: () => SubmitService | undefined, log: Logger): void {
  const submit = (): SubmitService => {
    const found = service();
    if (!found) {
      throw forbidden('Submission is not enabled in this workspace.');
    }
    return found;
  };

  router.get(
    '/submit',
    authed(async (_req, res) => {
      const found = service();
      const answer: SubmitChecklist = found
        ? await found.checklist()
        : { enabled: false, ready: false, reason: 'Submission is not enabled in this workspace.', items: [], conversions: [], missing: [], total_bytes: 0, max_bytes: 0, file_count: 0, destination: null, running: null };
      res.json(answer);
    })
  );

  router.post(
    '/submit',
    authed(async (req, res, caller) => {
      expectNoFields(req);
      log.info('submission requested', { user: caller.identity.username });
      const receipt: SubmissionReceipt = await submit().submit(caller.identity.username);
      res.json(receipt);
    })
  );

  router.get(
    '/submissions',
    authed((_req, res) => {
      const found = service();
      const answer: SubmissionListResponse = found ? found.list() : { enabled: false, submissions: [], running: null };
      res.json(answer);
    })
  );

  router.post(
    '/submissions/:id/retry',
    authed(async (req, res, caller) => {
      expectNoFields(req);
      log.info('submission retry requested', { user: caller.identity.username, id: req.params.id });
      const receipt: SubmissionReceipt = await submit().retry(String(req.params.id), caller.identity.username);
      res.json(receipt);
    })
  );
}
