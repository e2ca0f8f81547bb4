import express, { NextFunction, Request, Response } from 'express';
import { timingSafeEqual } from 'node:crypto';
import { JupyterAuthenticator, Caller } from './auth';
import { badRequest, forbidden, notFound, WorkspaceError } from '../errors';
import { GpuService } from '../gpu/service';
import { Ledger } from '../quota/ledger';
import { Logger } from '../log';
import { JupyterSupervisor } from '../jupyter/supervisor';
import { API_VERSION, VERSION } from '../version';

export const API_PATH = 'gpu-workspace/api/v1';

export interface ApiDeps {
  /** Where the API is mounted, e.g. "/user/alice/gpu-workspace/api/v1". */
  prefix: string;
  supervisor: JupyterSupervisor;
  auth: JupyterAuthenticator;
  gpu: GpuService;
  ledger: Ledger;
  operatorToken: string | undefined;
  maxBodyBytes: number;
  log: Logger;
}

type Handler = (req: Request, res: Response, caller: Caller) => Promise<void> | void;

/** Known routes and their methods: the 404/405 answers and the OpenAPI test both read this. */
export const ROUTES: Record<string, string[]> = {
  '/health': ['GET'],
  '/status': ['GET'],
  '/server/restart': ['POST'],
  '/gpu': ['POST'],
  '/usage': ['GET'],
  '/quota/grants': ['POST']
};

function sendError(res: Response, err: WorkspaceError): void {
  res.status(err.status).json({ message: err.message, code: err.code });
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
  const given = Buffer.from(match?.[1] ?? '');
  const expected = Buffer.from(operatorToken);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw forbidden('This action needs the operator token (Authorization: token <operator token>).');
  }
}

/**
 * The sidecar's own API. Handlers are thin: authenticate, validate, call the
 * component, and map its typed error to a status and a JSON message.
 */
export function createApi(deps: ApiDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(express.json({ limit: deps.maxBodyBytes, type: ['application/json', 'text/plain'] }));

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
    res.json({ status: 'ok' });
  });

  router.get(
    '/status',
    authed((_req, res, caller) => {
      res.json({
        version: VERSION,
        api_version: API_VERSION,
        jupyter: deps.supervisor.status(),
        user: { username: caller.identity.username, name: caller.identity.name ?? caller.identity.username },
        gpu: deps.gpu.status(),
        quota: deps.gpu.quota()
      });
    })
  );

  router.post(
    '/gpu',
    authed(async (req, res, caller) => {
      const body = objectBody(req, ['enabled', 'profile']);
      if (typeof body.enabled !== 'boolean') {
        throw badRequest('"enabled" must be true or false.');
      }
      if (body.profile !== undefined && typeof body.profile !== 'string') {
        throw badRequest('"profile" must be the name of a GPU profile.');
      }
      await deps.gpu.setMode(body.enabled, body.profile as string | undefined, caller.identity.username);
      res.json({ gpu: deps.gpu.status(), quota: deps.gpu.quota() });
    })
  );

  router.get(
    '/usage',
    authed((_req, res) => {
      const quota = deps.gpu.quota();
      const since = quota.window_start === null ? null : Date.parse(quota.window_start);
      const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
      res.json({
        quota,
        sessions: deps.ledger.sessions(since).map(s => ({
          id: s.id,
          profile: s.profile,
          weight: s.weight,
          started_at: iso(s.started_at_ms),
          ended_at: iso(s.ended_at_ms),
          charged_seconds: s.charged_seconds
        })),
        grants: deps.ledger.grants(since).map(g => ({ id: g.id, at: iso(g.granted_at_ms), hours: g.hours, reason: g.reason, actor: g.actor }))
      });
    })
  );

  router.post('/quota/grants', async (req, res, next) => {
    try {
      requireOperator(req, deps.operatorToken);
      const body = objectBody(req, ['hours', 'reason']);
      if (typeof body.hours !== 'number') {
        throw badRequest('"hours" must be a number.');
      }
      if (typeof body.reason !== 'string') {
        throw badRequest('"reason" must be a string saying why the hours are granted.');
      }
      const grant = deps.ledger.grant({ hours: body.hours, reason: body.reason, actor: 'operator-api' });
      deps.gpu.emit('changed');
      res.status(201).json({ grant, quota: deps.gpu.quota() });
    } catch (err) {
      next(err);
    }
  });

  router.post(
    '/server/restart',
    authed(async (req, res, caller) => {
      expectNoFields(req);
      deps.log.info('restart requested', { user: caller.identity.username });
      await deps.supervisor.restart(`requested by ${caller.identity.username}`);
      res.json({ jupyter: deps.supervisor.status() });
    })
  );

  router.all('/{*rest}', (req, res) => {
    const allowed = ROUTES[req.path];
    if (allowed) {
      res.setHeader('allow', allowed.join(', '));
      res.status(405).json({ message: `${req.method} is not allowed on ${req.path}; use ${allowed.join(' or ')}.`, code: 'method_not_allowed' });
      return;
    }
    sendError(res, notFound(`No such API route: ${req.method} ${req.path}`));
  });

  app.use(deps.prefix, router);

  // Error mapping: typed errors keep their status; body-parser errors become 4xx; anything else is a 500 without a stack.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof WorkspaceError) {
      sendError(res, err);
      return;
    }
    const e = err as { type?: string; status?: number; message?: string; limit?: number };
    if (e.type === 'entity.too.large') {
      res.status(413).json({ message: `Request body is larger than ${e.limit} bytes.`, code: 'too_large' });
      return;
    }
    if (e.type === 'entity.parse.failed') {
      res.status(400).json({ message: `Malformed JSON in request body: ${e.message}`, code: 'bad_json' });
      return;
    }
    if (e.status && e.status >= 400 && e.status < 500) {
      res.status(e.status).json({ message: e.message ?? 'Bad request', code: 'bad_request' });
      return;
    }
    if (err instanceof Error && err.name === 'StartupError') {
      res.status(503).json({ message: err.message, code: 'jupyter_failed' });
      return;
    }
    deps.log.error('unhandled API error', { error: String((err as Error)?.stack ?? err) });
    res.status(500).json({ message: 'Internal error in the workspace service; the details are in its log.', code: 'internal' });
  });
  return app;
}
