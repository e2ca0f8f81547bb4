import express, { NextFunction, Request, Response } from 'express';
import { JupyterAuthenticator, Caller } from './auth';
import { badRequest, notFound, WorkspaceError } from './errors';
import { Logger } from './log';
import { JupyterSupervisor } from './supervisor';
import { API_VERSION, VERSION } from './version';

export const API_PATH = 'gpu-workspace/api/v1';

export interface ApiDeps {
  /** Where the API is mounted, e.g. "/user/alice/gpu-workspace/api/v1". */
  prefix: string;
  supervisor: JupyterSupervisor;
  auth: JupyterAuthenticator;
  maxBodyBytes: number;
  log: Logger;
}

type Handler = (req: Request, res: Response, caller: Caller) => Promise<void> | void;

/** Known routes and their methods: the 404/405 answers and the OpenAPI test both read this. */
export const ROUTES: Record<string, string[]> = {
  '/health': ['GET'],
  '/status': ['GET'],
  '/server/restart': ['POST']
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
        user: { username: caller.identity.username, name: caller.identity.name ?? caller.identity.username }
      });
    })
  );

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
