/**
 * How a route of the API is declared: by its key in packages/api's endpoint
 * map, with who may call it. The key gives the method and path express
 * serves, and the types: `res.json` takes only the answer the map names and
 * `req.params` has exactly the path's segments. Every route module builds
 * on one ApiRoutes, so the table of what is served (for 405 answers and the
 * tests that walk every route) is the one express routes by.
 */
import type { Endpoint, ParamsOf, PathOf, ResponseOf } from '@jupyterlab-gpu-workspace/api';
import express from 'express';
import type { Caller } from '../auth';

/** Who may call a route, and whether it answers while the workspace is stopped for inactivity. */
export interface RouteAccess {
  /** No credentials needed (health). */
  public?: boolean;
  /** The operator token from the config, never a user's credentials. */
  operator?: boolean;
  /** The kernel-scoped token (GPU_WORKSPACE_TOKEN) may call it too. */
  kernel?: boolean;
  /** It answers while Jupyter is stopped for inactivity. */
  whileStopped?: boolean;
}

/** What express hands a route of `E`: the body is unknown until the handler has validated it. */
export type ApiRequest<E extends Endpoint> = express.Request<ParamsOf<E>, ResponseOf<E>, unknown, Record<string, string | string[] | undefined>>;
export type ApiResponse<E extends Endpoint> = express.Response<ResponseOf<E>, { caller?: Caller }>;

export type ApiHandler<E extends Endpoint> = (req: ApiRequest<E>, res: ApiResponse<E>) => void | Promise<void>;

/** Builds the checks a route's access asks for, as middleware that runs before the body is read. */
export type AccessGuard = (access: RouteAccess) => express.RequestHandler;

/** Who authenticated for this request: the guard of every route that is neither public nor the operator's sets it. */
export function callerOf(res: express.Response): Caller {
  const caller = (res.locals as { caller?: Caller }).caller;
  if (!caller) {
    throw new Error('callerOf: the route has no authenticated caller (a public or operator route asked for one)');
  }
  return caller;
}

export class ApiRoutes {
  /** Paths are matched as written: case-sensitive, a trailing slash is another path. */
  readonly router = express.Router({ caseSensitive: true, strict: true });
  private readonly served: Endpoint[] = [];

  constructor(
    private readonly guard: AccessGuard,
    private readonly readBody: express.RequestHandler
  ) {}

  add<E extends Endpoint>(endpoint: E, access: RouteAccess, handler: ApiHandler<E>): this {
    const space = endpoint.indexOf(' ');
    const method = endpoint.slice(0, space) as 'GET' | 'POST' | 'DELETE';
    const path = endpoint.slice(space + 1) as PathOf<E>;
    // express's own types cannot carry the endpoint's params and answer through a route table: the key fixed them above.
    const run: express.RequestHandler = (req, res) => handler(req as unknown as ApiRequest<E>, res as ApiResponse<E>);
    const steps = [this.guard(access), ...(method === 'GET' || method === 'DELETE' ? [] : [this.readBody]), run];
    if (method === 'GET') {
      this.router.get(path, ...steps);
    } else if (method === 'POST') {
      this.router.post(path, ...steps);
    } else {
      this.router.delete(path, ...steps);
    }
    this.served.push(endpoint);
    return this;
  }

  /** Every endpoint served, in the order declared. */
  endpoints(): readonly Endpoint[] {
    return this.served;
  }

  /** Path → the methods it serves (HEAD is served wherever GET is, and not listed). */
  methodsByPath(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const e of this.served) {
      const [method, path] = e.split(' ');
      out.set(path, [...(out.get(path) ?? []), method]);
    }
    return out;
  }
}
