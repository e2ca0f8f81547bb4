import type {
  ErrorBody,
  GpuSwitchAccepted,
  GrantResponse,
  HealthResponse,
  IsolationStatus,
  RestartAccepted,
  StatusResponse,
  UsageResponse
} from '@jupyterlab-gpu-workspace/api';
import express, { NextFunction, Request, Response, Router } from 'express';
import { badRequest, forbidden, notFound, WorkspaceError } from '../errors';
import { GpuService } from '../gpu/service';
import { JupyterSupervisor } from '../jupyter/supervisor';
import { Logger } from '../log';
import { Ledger } from '../quota/ledger';
import { API_VERSION, VERSION } from '../version';
import { SnapshotService } from '../snapshots/service';
import { Caller, JupyterAuthenticator, sameSecret } from './auth';
import { addSnapshotRoutes } from './snapshotRoutes';

export interface ApiDeps {
  /** Where the API is mounted, e.g. "/user/alice/gpu-workspace/api/v1". */
  prefix: string;
  supervisor: JupyterSupervisor;
  auth: JupyterAuthenticator;
  gpu: GpuService;
  ledger: Ledger;
  isolation: IsolationStatus;
  operatorToken: string | undefined;
  maxBodyBytes: number;
  /** Home usage, snapshots and restores; absent in tests that need none. */
  snapshots?: SnapshotService;
  log: Logger;
}

type Handler = (req: Request, res: Response, caller: Caller) => Promise<void> | void;

function sendError(res: Response, err: WorkspaceError): void {
  const body: ErrorBody = { ...err.details, message: err.message, code: err.code };
  res.status(err.status).json(body);
}

/** Requests that need no body must not smuggle one: anything but an empty JSON object is refused. */
function expectNoFields(req: Request): void {
  const body: unknown = req.body;
  if (body === undefined || body === null) {
    return;
  }
  if (typeof body !== 'object' || Array.isArray(body) || Object.keys(body).length > 0) {
    throw badRequest('This request takes no fields; send an empty body or {}.');
  }
}

/** Reads a JSON object body, refusing anything else and any key not listed. */
function objectBody(req: Request, allowed: string[]): Record<string, unknown> {
  const body: unknown = req.body;
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('Send a JSON object as the request body.');
  }
  const unknown = Object.keys(body).filter(k => !allowed.includes(k));
  if (unknown.length) {
    throw badRequest(`Unknown field${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}. Allowed: ${allowed.join(', ')}.`);
  }
  return body as Record<string, unknown>;
}

/** Operator routes take the operator token from the config, never a user's credentials. */
function requireOperator(req: Request, operatorToken: string | undefined): void {
  if (!operatorToken) {
    throw forbidden('Operator actions are disabled: no operator.token is set in the sidecar configuration.');
  }
  const match = /^(?:token|bearer)\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (!sameSecret(match?.[1] ?? '', operatorToken)) {
    throw forbidden('This action needs the operator token (Authorization: token <operator token>).');
  }
}

/** The routes a router really serves, with their methods: the 405 answers and the OpenAPI test read this. */
export function routesOf(router: Router): Map<string, string[]> {
  const routes = new Map<string, string[]>();
  for (const layer of router.stack) {
    const route = layer.route as { path?: unknown; methods?: Record<string, boolean> } | undefined;
    if (!route || typeof route.path !== 'string' || route.path.includes('*')) {
      continue;
    }
    const methods = Object.keys(route.methods ?? {})
      .filter(m => m !== '_all')
      .map(m => m.toUpperCase());
    routes.set(route.path, [...(routes.get(route.path) ?? []), ...methods]);
  }
  return routes;
}

/**
 * The sidecar's own API router, mounted under the prefix. Handlers are thin:
 * authenticate, validate, call the component, and map its typed error to a
 * status and a JSON message. Long work (a restart, a GPU switch) answers 202
 * at once; its progress and outcome are in `status`.
 */
export function createApiRouter(deps: ApiDeps): Router {
  const authed =
    (handler: Handler) =>
    async (req: Request, res: Response, next: NextFunction): Promise<void> => {
      try {
        const caller = await deps.auth.authenticate(req);
        await handler(req, res, caller);
      } catch (err) {
        next(err);
      }
    };

  const router = express.Router();
  router.use((_req, res, next) => {
    res.setHeader('cache-control', 'no-store');
    next();
  });

  router.get('/health', (_req, res) => {
    const body: HealthResponse = { status: 'ok' };
    res.json(body);
  });

  router.get(
    '/status',
    authed((_req, res, caller) => {
      const body: StatusResponse = {
        version: VERSION,
        api_version: API_VERSION,
        jupyter: deps.supervisor.status(),
        user: { username: caller.identity.username, name: caller.identity.name ?? caller.identity.username },
        isolation: deps.isolation,
        gpu: deps.gpu.status(),
        quota: deps.gpu.quotaStatus()
      };
      res.json(body);
    })
  );

  router.post(
    '/gpu',
    authed((req, res, caller) => {
      const body = objectBody(req, ['enabled', 'profile']);
      if (typeof body.enabled !== 'boolean') {
        throw badRequest('"enabled" must be true or false.');
      }
      if (body.profile !== undefined && typeof body.profile !== 'string') {
        throw badRequest('"profile" must be the name of a GPU profile.');
      }
      const { started } = deps.gpu.mode.requestSwitch(body.enabled, body.profile, caller.identity.username);
      const answer: GpuSwitchAccepted = { gpu: deps.gpu.status(), quota: deps.gpu.quotaStatus(), jupyter: deps.supervisor.status() };
      res.status(started ? 202 : 200).json(answer);
    })
  );

  router.get(
    '/usage',
    authed((_req, res) => {
      const quota = deps.gpu.quotaStatus();
      const since = quota.window_start === null ? null : Date.parse(quota.window_start);
      const iso = (ms: number): string => new Date(ms).toISOString();
      const body: UsageResponse = {
        quota,
        sessions: deps.ledger.sessions(since).map(s => ({
          id: s.id,
          profile: s.profile,
          weight: s.weight,
          started_at: iso(s.started_at_ms),
          ended_at: s.ended_at_ms === null ? null : iso(s.ended_at_ms),
          charged_seconds: s.charged_seconds
        })),
        grants: deps.ledger.grants(since).map(g => ({ id: g.id, at: iso(g.granted_at_ms), hours: g.hours, reason: g.reason, actor: g.actor }))
      };
      res.json(body);
    })
  );

  router.post('/quota/grants', (req, res, next) => {
    try {
      requireOperator(req, deps.operatorToken);
      const body = objectBody(req, ['hours', 'reason']);
      if (typeof body.hours !== 'number') {
        throw badRequest('"hours" must be a number.');
      }
      if (typeof body.reason !== 'string') {
        throw badRequest('"reason" must be a string saying why the hours are granted.');
      }
      const grant = deps.gpu.quota.grant({ hours: body.hours, reason: body.reason, actor: 'operator-api' });
      const answer: GrantResponse = { grant, quota: deps.gpu.quotaStatus() };
      res.status(201).json(answer);
    } catch (err) {
      next(err);
    }
  });

  router.post(
    '/server/restart',
    authed((req, res, caller) => {
      expectNoFields(req);
      deps.log.info('restart requested', { user: caller.identity.username });
      deps.supervisor.requestRestart(`requested by ${caller.identity.username}`);
      const answer: RestartAccepted = { jupyter: deps.supervisor.status() };
      res.status(202).json(answer);
    })
  );

  addSnapshotRoutes(router, authed, () => deps.snapshots, deps.log);

  const known = routesOf(router);
  router.all('/{*rest}', (req, res) => {
    const allowed = known.get(req.path);
    if (allowed) {
      res.setHeader('allow', allowed.join(', '));
      const body: ErrorBody = { message: `${req.method} is not allowed on ${req.path}; use ${allowed.join(' or ')}.`, code: 'method_not_allowed' };
      res.status(405).json(body);
      return;
    }
    sendError(res, notFound(`No such API route: ${req.method} ${req.path}`));
  });
  return router;
}

/** The API as an express app: the router under its prefix, JSON bodies, and error mapping. */
export function createApi(deps: ApiDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(express.json({ limit: deps.maxBodyBytes, type: ['application/json', 'text/plain'] }));
  app.use(deps.prefix, createApiRouter(deps));

  // Error mapping: typed errors keep their status; body-parser errors become 4xx; anything else is a 500 without a stack.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof WorkspaceError) {
      sendError(res, err);
      return;
    }
    const e = err as { type?: string; status?: number; message?: string; limit?: number };
    const reply = (status: number, body: ErrorBody): void => void res.status(status).json(body);
    if (e.type === 'entity.too.large') {
      reply(413, { message: `Request body is larger than ${e.limit} bytes.`, code: 'too_large' });
      return;
    }
    if (e.type === 'entity.parse.failed') {
      reply(400, { message: `Malformed JSON in request body: ${e.message}`, code: 'bad_json' });
      return;
    }
    if (e.status && e.status >= 400 && e.status < 500) {
      reply(e.status, { message: e.message ?? 'Bad request', code: 'bad_request' });
      return;
    }
    deps.log.error('unhandled API error', { error: String((err as Error)?.stack ?? err) });
    reply(500, { message: 'Internal error in the workspace service; the details are in its log.', code: 'internal' });
  });
  return app;
}
