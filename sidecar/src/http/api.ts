import type {
  ActivityResponse,
  LeaseResponse,
  StartAccepted,
  GpuSwitchAccepted,
  GrantResponse,
  HealthResponse,
  IsolationStatus,
  RestartAccepted,
  StatusResponse,
  UsageResponse
} from '@jupyterlab-gpu-workspace/api';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { badRequest, forbidden, stoppedForIdle } from '../errors';
import { IdleController } from '../idle/controller';
import { LeaseTable } from '../idle/leases';
import { LiveEvents } from './liveEvents';
import { GpuService } from '../gpu/service';
import { JupyterSupervisor } from '../jupyter/supervisor';
import { Logger } from '../log';
import { Ledger } from '../quota/ledger';
import { API_VERSION, VERSION } from '../version';
import { ResetService } from '../reset/service';
import { SnapshotService } from '../snapshots/service';
import { Caller, FrontDoorAuth } from './auth';
import { ApiRequest as Request, ApiResponse as Response, Method, Router } from './router';
import { addResetRoutes } from './resetRoutes';
import { addSnapshotRoutes } from './snapshotRoutes';
import { addSubmitRoutes } from './submitRoutes';
import { SubmitService } from '../submit/service';
import { expectNoFields, objectBody } from './body';
import { addHookRoutes } from './hookRoutes';
import { PtyHookRunner } from '../hooks/runner';

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

/** Who may call a route: the workspace's user only, or also the kernel-scoped token; and whether it answers while stopped. */
interface RouteAccess {
  kernel?: boolean;
  whileStopped?: boolean;
}

const LEASE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function leaseId(req: Request): string {
  const id = String(req.params.id ?? '');
  if (!LEASE_ID.test(id)) {
    throw badRequest('The lease id must be the id POST leases answered with.');
  }
  return id;
}

type Handler = (req: Request, res: Response, caller: Caller) => Promise<void> | void;

/** Operator routes take the operator token from the config, never a user's credentials. */
function requireOperator(req: Request, operatorToken: string | undefined, auth: FrontDoorAuth): void {
  if (!operatorToken) {
    throw forbidden('Operator actions are disabled: no operator.token is set in the sidecar configuration.');
  }
  if (!auth.isOperator(req)) {
    throw forbidden('This action needs the operator token (Authorization: token <operator token>).');
  }
}

/** The routes a router really serves, with their methods: the OpenAPI and auth-matrix tests read this. */
export function routesOf(router: Router): Map<string, Method[]> {
  return router.routes();
}

/**
 * The sidecar's own API router, mounted under the prefix. Handlers are thin:
 * authenticate, validate, call the component, and map its typed error to a
 * status and a JSON message. Long work (a restart, a GPU switch) answers 202
 * at once; its progress and outcome are in `status`.
 */
export function createApiRouter(deps: ApiDeps): Router {
  const authed =
    (handler: Handler, access: RouteAccess = {}) =>
    async (req: Request, res: Response): Promise<void> => {
      const caller = deps.auth.authenticate(req);
      if (caller.scope === 'kernel' && !access.kernel) {
        throw forbidden('The kernel token (GPU_WORKSPACE_TOKEN) may only hold keep-awake leases and read the status.');
      }
      if (!access.whileStopped && deps.idle.isStopped) {
        throw stoppedForIdle();
      }
      await handler(req, res, caller);
    };

  const router = new Router();

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
        quota: deps.gpu.quotaStatus(),
        idle: deps.idle.status()
      };
      res.json(body);
    }, { kernel: true, whileStopped: true })
  );

  router.get(
    '/events',
    authed((_req, res) => {
      deps.events.subscribe(res);
    }, { whileStopped: true })
  );

  router.post(
    '/activity',
    authed((req, res) => {
      expectNoFields(req);
      deps.idle.activity('user');
      const body: ActivityResponse = { idle: deps.idle.status() };
      res.json(body);
    })
  );

  router.post(
    '/server/start',
    authed((req, res, caller) => {
      expectNoFields(req);
      const { started } = deps.idle.startAgain();
      if (started) {
        deps.log.info('start requested after the idle stop', { user: caller.identity.username });
      }
      const body: StartAccepted = { jupyter: deps.supervisor.status(), idle: deps.idle.status() };
      res.status(deps.idle.isStopped ? 202 : 200).json(body);
    }, { whileStopped: true })
  );

  router.post(
    '/leases',
    authed((req, res) => {
      const body = objectBody(req, ['label', 'pid', 'ttl_seconds']);
      const acquired = deps.leases.acquire(body.label, body.pid, body.ttl_seconds);
      const maxHours = deps.idle.status().max_hours;
      const answer: LeaseResponse = {
        lease: acquired.lease,
        ttl_seconds: acquired.ttlSeconds,
        capped: acquired.capped,
        note: acquired.capped ? `The ttl asked for is longer than the cap (keep_awake.max_hours: ${maxHours} h): the lease ends after ${maxHours} h.` : null,
        heartbeat_seconds: deps.idle.status().heartbeat_seconds
      };
      res.status(201).json(answer);
    }, { kernel: true })
  );

  router.post(
    '/leases/:id/heartbeat',
    authed((req, res) => {
      expectNoFields(req);
      res.json({ lease: deps.leases.heartbeat(leaseId(req)) });
    }, { kernel: true })
  );

  router.delete(
    '/leases/:id',
    authed((req, res) => {
      deps.leases.release(leaseId(req));
      res.json({ idle: deps.idle.status() });
    }, { kernel: true, whileStopped: true })
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

  router.post('/quota/grants', (req, res) => {
    requireOperator(req, deps.operatorToken, deps.auth);
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
  addSubmitRoutes(router, authed, () => deps.submit, deps.log);
  addResetRoutes(router, authed, () => deps.reset, deps.log);
  addHookRoutes(router, authed, () => deps.hooks);

  return router;
}

/** The API's request handler: the router under its prefix, with bodies up to the configured size. */
export function createApi(deps: ApiDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const router = createApiRouter(deps);
  const options = {
    maxBodyBytes: deps.maxBodyBytes,
    onUnexpectedError: (err: unknown) => deps.log.error('unhandled API error', { error: String((err as Error)?.stack ?? err) })
  };
  return (req, res) => void router.handle(deps.prefix, req, res, options);
}
