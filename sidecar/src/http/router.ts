/**
 * The API's router: exact paths with `:name` segments, JSON bodies up to a
 * limit, and answers that are always JSON. It replaces express, which cost
 * about 15 MB of resident memory for the handful of features used here.
 * Requests and responses stay Node's own objects (a handler can still
 * stream, as Server-Sent Events and downloads need), with a few fields added.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { notFound, WorkspaceError } from '../errors';
import { internalError, sendError, sendJson } from './answers';
import { pathOf, searchParams } from './credentials';
import { isDisconnect } from './disconnects';

export interface ApiRequest extends IncomingMessage {
  /** The path below the router's prefix, e.g. "/snapshots/abc/restore" (percent-decoded per segment in `params`). */
  path: string;
  query: URLSearchParams;
  /** The `:name` segments of the matched route. */
  params: Record<string, string>;
  /** The parsed JSON body; undefined when the request had none. */
  body: unknown;
}

export interface ApiResponse extends ServerResponse {
  status(code: number): this;
  /** Sends `body` as JSON and ends the response. */
  json(body: unknown): void;
}

export type RouteHandler = (req: ApiRequest, res: ApiResponse) => void | Promise<void>;

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';

interface Route {
  method: Method;
  /** As written, e.g. "/snapshots/:id/restore": the 405 answers and the OpenAPI test use it. */
  path: string;
  segments: string[];
  handler: RouteHandler;
}

/** Content types whose bodies are read as JSON (text/plain too: a simple fetch without a preflight). */
const JSON_TYPES = /^(application\/json|text\/plain)\s*(;|$)/i;
const NO_BODY_METHODS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS']);

/** Reads a JSON body of at most `limit` bytes; throws a WorkspaceError-shaped refusal otherwise. */
function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    return Promise.reject(new WorkspaceError(413, `Request body is larger than ${limit} bytes.`, 'too_large'));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit && !failed) {
        failed = true;
        req.resume();
        reject(new WorkspaceError(413, `Request body is larger than ${limit} bytes.`, 'too_large'));
        return;
      }
      if (!failed) {
        chunks.push(chunk);
      }
    });
    req.on('error', err => {
      if (!failed) {
        failed = true;
        reject(err);
      }
    });
    req.on('end', () => {
      if (failed) {
        return;
      }
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') {
        resolve(undefined);
        return;
      }
      try {
        resolve(JSON.parse(text));
      } catch (err) {
        reject(new WorkspaceError(400, `Malformed JSON in request body: ${(err as Error).message}`, 'bad_json'));
      }
    });
  });
}

function split(path: string): string[] {
  return path.split('/').filter(s => s !== '');
}

/** The route's params if `segments` match it, else null. */
function match(route: Route, segments: string[]): Record<string, string> | null {
  if (route.segments.length !== segments.length) {
    return null;
  }
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const pattern = route.segments[i];
    if (pattern.startsWith(':')) {
      let value: string;
      try {
        value = decodeURIComponent(segments[i]);
      } catch {
        return null;
      }
      params[pattern.slice(1)] = value;
    } else if (pattern !== segments[i]) {
      return null;
    }
  }
  return params;
}

export interface RouterOptions {
  /** Largest JSON body accepted, in bytes. */
  maxBodyBytes: number;
  /** Called with errors that are not WorkspaceErrors (bugs): they become a 500 without details. */
  onUnexpectedError: (err: unknown, req: IncomingMessage) => void;
}

export class Router {
  private readonly table: Route[] = [];

  get(path: string, handler: RouteHandler): this {
    return this.add('GET', path, handler);
  }
  post(path: string, handler: RouteHandler): this {
    return this.add('POST', path, handler);
  }
  put(path: string, handler: RouteHandler): this {
    return this.add('PUT', path, handler);
  }
  delete(path: string, handler: RouteHandler): this {
    return this.add('DELETE', path, handler);
  }

  add(method: Method, path: string, handler: RouteHandler): this {
    this.table.push({ method, path, segments: split(path), handler });
    return this;
  }

  /** Route path → the methods it serves (HEAD is served wherever GET is, and not listed). */
  routes(): Map<string, Method[]> {
    const out = new Map<string, Method[]>();
    for (const r of this.table) {
      out.set(r.path, [...(out.get(r.path) ?? []), r.method]);
    }
    return out;
  }

  /**
   * Serves a request whose URL starts with `prefix`: finds the route (404 or
   * 405 with Allow when none fits), reads the JSON body, runs the handler and
   * maps a thrown WorkspaceError to its status and JSON message.
   */
  async handle(prefix: string, req: IncomingMessage, res: ServerResponse, options: RouterOptions): Promise<void> {
    res.setHeader('cache-control', 'no-store');
    // The path as written: no normalisation ("status/../usage" is no route), and nothing here can throw.
    const path = pathOf(req.url).slice(prefix.length) || '/';
    const segments = split(path);
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    let found: { route: Route; params: Record<string, string> } | null = null;
    const allowed: Method[] = [];
    for (const route of this.table) {
      const params = match(route, segments);
      if (params === null) {
        continue;
      }
      allowed.push(route.method);
      if (route.method === method && found === null) {
        found = { route, params };
      }
    }
    if (found === null) {
      if (allowed.length) {
        res.setHeader('allow', allowed.join(', '));
        sendError(res, new WorkspaceError(405, `${req.method} is not allowed on ${path}; use ${allowed.join(' or ')}.`, 'method_not_allowed'));
      } else {
        sendError(res, notFound(`No such API route: ${req.method} ${path}`));
      }
      return;
    }
    const apiReq = req as ApiRequest;
    apiReq.path = path;
    apiReq.query = searchParams(req.url);
    apiReq.params = found.params;
    const apiRes = res as ApiResponse;
    apiRes.status = function (this: ApiResponse, code: number) {
      this.statusCode = code;
      return this;
    };
    apiRes.json = function (this: ApiResponse, body: unknown) {
      sendJson(this, this.statusCode, body);
    };
    try {
      const hasBody = !NO_BODY_METHODS.has(req.method ?? '') && JSON_TYPES.test(req.headers['content-type'] ?? 'application/json');
      apiReq.body = hasBody ? await readJsonBody(req, options.maxBodyBytes) : undefined;
      await found.route.handler(apiReq, apiRes);
    } catch (err) {
      if (err instanceof WorkspaceError) {
        sendError(res, err);
        return;
      }
      if (isDisconnect(err) || req.destroyed) {
        // The client left in the middle of its request: nobody is there to answer.
        res.destroy();
        return;
      }
      options.onUnexpectedError(err, req);
      sendError(res, internalError());
    }
  }
}
