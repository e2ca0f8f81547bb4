/**
 * The sidecar's own API on express: the routes of http/routes/ behind one
 * chain of middleware (paths as written, who may call, the JSON body, and one
 * mapping of every error to its answer). Only requests under the API's
 * prefix come here; Jupyter's traffic stays on the pass-through and never
 * meets express.
 */
import type { IsolationStatus } from '@jupyterlab-gpu-workspace/api';
import express from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { forbidden, notFound, stoppedForIdle, WorkspaceError } from '../errors';
import type { GpuService } from '../gpu/service';
import type { PtyHookRunner } from '../hooks/runner';
import type { IdleController } from '../idle/controller';
import type { LeaseTable } from '../idle/leases';
import type { JupyterSupervisor } from '../jupyter/supervisor';
import type { Logger } from '../log';
import type { Ledger } from '../quota/ledger';
import type { ResetService } from '../reset/service';
import type { SnapshotService } from '../snapshots/service';
import type { SubmitService } from '../submit/service';
import { internalError, sendError } from './answers';
import type { FrontDoorAuth } from './auth';
import { pathOf } from './credentials';
import { isDisconnect } from './disconnects';
import type { LiveEvents } from './liveEvents';
import { gpuRoutes } from './routes/gpu';
import { homeRoutes } from './routes/home';
import { hookRoutes } from './routes/hooks';
import { leaseRoutes } from './routes/leases';
import { resetRoutes } from './routes/reset';
import { AccessGuard, ApiRoutes } from './routes/route';
import { serverRoutes } from './routes/server';
import { snapshotRoutes } from './routes/snapshots';
import { statusRoutes } from './routes/status';
import { submitRoutes } from './routes/submit';

export interface ApiDeps {
  /** Where the API is mounted, e.g. "/user/alice/gpu-workspace/api/v1". */
  prefix: string;
  supervisor: JupyterSupervisor;
  auth: FrontDoorAuth;
  gpu: GpuService;
  ledger: Ledger;
  isolation: IsolationStatus;
  operatorToken: string | undefined;
  maxBodyBytes: number;
  /** Home usage, snapshots and restores; absent in tests that need none. */
  snapshots?: SnapshotService;
  /** Submit Project; absent in tests that need none (the routes then say submission is not enabled). */
  submit?: SubmitService;
  /** Reset Data; absent in tests that need none. */
  reset?: ResetService;
  /** Operator hooks (post-reset, conversions, command destinations) and their logs; absent in tests that need none. */
  hooks?: PtyHookRunner;
  log: Logger;
  idle: IdleController;
  leases: LeaseTable;
  events: LiveEvents;
}

/** Content types whose bodies are read as JSON (text/plain too: a simple fetch without a preflight; none: curl -d). */
const JSON_TYPES = /^(application\/json|text\/plain)\s*(;|$)/i;

/** The checks of a route's access, in the order that tells a caller the most: who, whether allowed, whether now. */
function accessGuard(deps: ApiDeps): AccessGuard {
  return access => (req, res, next) => {
    if (access.public) {
      next();
      return;
    }
    if (access.operator) {
      if (!deps.operatorToken) {
        throw forbidden('Operator actions are disabled: no operator.token is set in the sidecar configuration.');
      }
      if (!deps.auth.isOperator(req)) {
        throw forbidden('This action needs the operator token (Authorization: token <operator token>).');
      }
      next();
      return;
    }
    const caller = deps.auth.authenticate(req);
    if (caller.scope === 'kernel' && !access.kernel) {
      throw forbidden('The kernel token (GPU_WORKSPACE_TOKEN) may only hold keep-awake leases and read the status.');
    }
    if (!access.whileStopped && deps.idle.isStopped) {
      throw stoppedForIdle();
    }
    res.locals.caller = caller;
    next();
  };
}

/** A path segment that is a dot or two, written plainly or percent-encoded: no API path has one, so it is no route. */
const DOT_SEGMENT = /^(\.|%2e){1,2}$/i;

/** Whether a segment's percent-escapes decode (express would throw on "%" or "%zz" in a :param). */
function decodes(segment: string): boolean {
  try {
    decodeURIComponent(segment);
    return true;
  } catch {
    return false;
  }
}

/** Paths as written: a dot segment, or one that does not decode, names no route. */
function refuseOddPaths(req: express.Request, _res: express.Response, next: express.NextFunction): void {
  const segments = pathOf(req.url).split('/');
  if (segments.some(s => DOT_SEGMENT.test(s) || !decodes(s))) {
    throw notFound(`No such API route: ${req.method} ${pathOf(req.url)}`);
  }
  next();
}

/** body-parser's refusals, in the contract's words; null for anything that is not one. */
function bodyRefusal(err: unknown, limit: number): WorkspaceError | null {
  const e = err as { type?: unknown; status?: unknown; message?: unknown } | null;
  if (!e || typeof e.type !== 'string' || typeof e.status !== 'number') {
    return null;
  }
  switch (e.type) {
    case 'entity.too.large':
      return new WorkspaceError(413, `Request body is larger than ${limit} bytes.`, 'too_large');
    case 'entity.parse.failed':
      return new WorkspaceError(400, `Malformed JSON in request body: ${String(e.message)}`, 'bad_json');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new WorkspaceError(415, `${String(e.message)}: send the body as plain UTF-8 JSON.`, 'bad_request');
    default:
      return e.status >= 400 && e.status < 500 ? new WorkspaceError(e.status, String(e.message), 'bad_request') : null;
  }
}

/** Every error a route or middleware throws ends here, as the answer packages/api's ErrorBody describes. */
function answerErrors(deps: ApiDeps): express.ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    if (res.headersSent) {
      // A stream (a download, the events) had begun: all that can be done is to cut it.
      res.destroy();
      return;
    }
    if (err instanceof WorkspaceError) {
      sendError(res, err);
      return;
    }
    const refusal = bodyRefusal(err, deps.maxBodyBytes);
    if (refusal) {
      sendError(res, refusal);
      return;
    }
    if (isDisconnect(err) || req.destroyed) {
      // The client left in the middle of its request: nobody is there to answer.
      res.destroy();
      return;
    }
    deps.log.error('unhandled API error', { error: String((err as Error)?.stack ?? err) });
    sendError(res, internalError());
  };
}

/**
 * A body declared larger than the limit is refused at once, before a byte of
 * it is read: body-parser would wait for the whole body to arrive (and one
 * that never comes would hold the request open) before it answers.
 */
function refuseDeclaredOverLimit(limit: number): express.RequestHandler {
  return (req, _res, next) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > limit) {
      throw new WorkspaceError(413, `Request body is larger than ${limit} bytes.`, 'too_large');
    }
    next();
  };
}

/** The API's routes, declared on one table (the tests that walk every route read it too). */
export function apiRoutes(deps: ApiDeps): ApiRoutes {
  const parseJson = express.json({
    limit: deps.maxBodyBytes,
    // Any JSON value: a body that is no object gets the route's own message, not body-parser's.
    strict: false,
    // A compressed body is refused (415) rather than inflated past the limit's meaning.
    inflate: false,
    type: req => JSON_TYPES.test(req.headers['content-type'] ?? 'application/json')
  });
  const declared = refuseDeclaredOverLimit(deps.maxBodyBytes);
  const readBody: express.RequestHandler = (req, res, next) => declared(req, res, () => parseJson(req, res, next));
  const routes = new ApiRoutes(accessGuard(deps), readBody);
  statusRoutes(routes, deps);
  leaseRoutes(routes, deps);
  gpuRoutes(routes, deps);
  serverRoutes(routes, deps);
  homeRoutes(routes, deps);
  snapshotRoutes(routes, deps);
  submitRoutes(routes, deps);
  resetRoutes(routes, deps);
  hookRoutes(routes, deps);
  return routes;
}

/**
 * The API's request handler, for requests whose path starts with the
 * prefix. express sees the path below it (a prefix holds user names, which
 * express would read as patterns) and every answer is JSON and no-store.
 */
export function createApi(deps: ApiDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const routes = apiRoutes(deps);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('case sensitive routing', true);
  app.set('strict routing', true);
  app.use((_req, res, next) => {
    res.setHeader('cache-control', 'no-store');
    next();
  });
  app.use(refuseOddPaths);
  app.use(routes.router);
  for (const [path, methods] of routes.methodsByPath()) {
    app.all(path, (req, res) => {
      res.setHeader('allow', methods.join(', '));
      throw new WorkspaceError(405, `${req.method} is not allowed on ${pathOf(req.url)}; use ${methods.join(' or ')}.`, 'method_not_allowed');
    });
  }
  app.use(req => {
    throw notFound(`No such API route: ${req.method} ${pathOf(req.url)}`);
  });
  app.use(answerErrors(deps));
  const prefixLength = deps.prefix.length;
  return (req, res) => {
    req.url = req.url?.slice(prefixLength) || '/';
    if (!req.url.startsWith('/')) {
      req.url = `/${req.url}`;
    }
    app(req, res);
  };
}
