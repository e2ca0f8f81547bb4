/**
 * The map from every API endpoint to what it takes and what it answers. The
 * sidecar's routes are declared by these keys (so a handler cannot answer
 * another type than the one written here) and the extension's clients call
 * by them (so a client cannot send a body the route does not take); a change
 * on one side that the other does not follow fails the compile.
 */
import type {
  ActivityResponse,
  GpuSwitchAccepted,
  GpuSwitchRequest,
  GrantRequest,
  GrantResponse,
  HealthResponse,
  HomeUsageResponse,
  HookRunListResponse,
  HookRunResponse,
  IdleStatus,
  KeepAwakeLease,
  LeaseRequest,
  LeaseResponse,
  ResetRequest,
  ResetResponse,
  ResetStatusResponse,
  ResetUndoRequest,
  ResetUndoResponse,
  RestartAccepted,
  RestoreHomeResponse,
  RestoreRequest,
  RestoreResponse,
  SnapshotCreated,
  SnapshotFilesResponse,
  SnapshotListResponse,
  StartAccepted,
  StatusResponse,
  SubmissionListResponse,
  SubmissionReceipt,
  SubmitChecklist,
  TrashEmptied,
  UsageResponse
} from './index';

/** A POST that takes no fields: nothing, or `{}`. */
export type NoFields = Record<string, never>;

/** Not JSON: the answer is a stream (Server-Sent Events, a download) that a client reads itself. */
export interface StreamAnswer {
  readonly stream: 'text/event-stream' | 'application/zip';
}

/**
 * `'METHOD path'` (path below API_PATH, `:name` for a segment) → `body` (the
 * JSON it takes; absent: none), `query` (absent: none) and `response` (the
 * JSON of its 2xx answer).
 */
export interface ApiEndpoints {
  'GET /health': { response: HealthResponse };
  'GET /status': { response: StatusResponse };
  'GET /events': { response: StreamAnswer };
  'POST /activity': { body: NoFields; response: ActivityResponse };
  'POST /server/start': { body: NoFields; response: StartAccepted };
  'POST /server/restart': { body: NoFields; response: RestartAccepted };
  'POST /leases': { body: LeaseRequest; response: LeaseResponse };
  'POST /leases/:id/heartbeat': { body: NoFields; response: { lease: KeepAwakeLease } };
  'DELETE /leases/:id': { response: { idle: IdleStatus } };
  'POST /gpu': { body: GpuSwitchRequest; response: GpuSwitchAccepted };
  'GET /usage': { response: UsageResponse };
  'POST /quota/grants': { body: GrantRequest; response: GrantResponse };
  'GET /home/usage': { response: HomeUsageResponse };
  'POST /home/trash/empty': { body: NoFields; response: TrashEmptied };
  'GET /home/archive': { response: StreamAnswer };
  'GET /snapshots': { response: SnapshotListResponse };
  'POST /snapshots': { body: NoFields; response: SnapshotCreated };
  'GET /snapshots/:id/files': { query: { path: string }; response: SnapshotFilesResponse };
  'POST /snapshots/:id/restore': { body: RestoreRequest; response: RestoreResponse };
  'POST /snapshots/:id/restore-home': { body: NoFields; response: RestoreHomeResponse };
  'GET /submit': { response: SubmitChecklist };
  'POST /submit': { body: NoFields; response: SubmissionReceipt };
  'GET /submissions': { response: SubmissionListResponse };
  'POST /submissions/:id/retry': { body: NoFields; response: SubmissionReceipt };
  'GET /reset': { response: ResetStatusResponse };
  'POST /reset': { body: ResetRequest; response: ResetResponse };
  'POST /reset/undo': { body: ResetUndoRequest; response: ResetUndoResponse };
  'GET /hooks/runs': { response: HookRunListResponse };
  'GET /hooks/runs/:id': { query: { since?: number }; response: HookRunResponse };
}

export type Endpoint = keyof ApiEndpoints;

/** The JSON a 2xx answer of `E` carries. */
export type ResponseOf<E extends Endpoint> = ApiEndpoints[E]['response'];

/** The JSON body `E` takes; `undefined` where it takes none. */
export type BodyOf<E extends Endpoint> = ApiEndpoints[E] extends { body: infer B } ? B : undefined;

/** The query `E` reads; `undefined` where it reads none. */
export type QueryOf<E extends Endpoint> = ApiEndpoints[E] extends { query: infer Q } ? Q : undefined;

/** `'POST /snapshots/:id/restore'` → `{ id: string }`: the path segments a caller fills in. */
export type ParamsOf<E extends Endpoint> = [ParamNames<PathOf<E>>] extends [never] ? Record<string, never> : { [K in ParamNames<PathOf<E>>]: string };

/** `'POST /snapshots/:id/restore'` → `'/snapshots/:id/restore'`. */
export type PathOf<E extends Endpoint> = E extends `${string} ${infer P}` ? P : never;

/** `'GET'`, `'POST'` or `'DELETE'`. */
export type MethodOf<E extends Endpoint> = E extends `${infer M} ${string}` ? M : never;

type ParamNames<P extends string> = P extends `${string}/:${infer Name}/${infer Rest}`
  ? Name | ParamNames<`/${Rest}`>
  : P extends `${string}/:${infer Name}`
    ? Name
    : never;

/** Every endpoint, as a value (the tests compare it with the routes the sidecar really serves). */
export const API_ENDPOINTS = [
  'GET /health',
  'GET /status',
  'GET /events',
  'POST /activity',
  'POST /server/start',
  'POST /server/restart',
  'POST /leases',
  'POST /leases/:id/heartbeat',
  'DELETE /leases/:id',
  'POST /gpu',
  'GET /usage',
  'POST /quota/grants',
  'GET /home/usage',
  'POST /home/trash/empty',
  'GET /home/archive',
  'GET /snapshots',
  'POST /snapshots',
  'GET /snapshots/:id/files',
  'POST /snapshots/:id/restore',
  'POST /snapshots/:id/restore-home',
  'GET /submit',
  'POST /submit',
  'GET /submissions',
  'POST /submissions/:id/retry',
  'GET /reset',
  'POST /reset',
  'POST /reset/undo',
  'GET /hooks/runs',
  'GET /hooks/runs/:id'
] as const satisfies readonly Endpoint[];

// The list above names every key of ApiEndpoints: a key added to the map and not here fails the compile.
type Unlisted = Exclude<Endpoint, (typeof API_ENDPOINTS)[number]>;
const everyEndpointListed: [Unlisted] extends [never] ? true : Unlisted = true;
void everyEndpointListed;

/** What a caller gives for `E`: its path's segments, its body and its query, each required exactly where `E` takes it. */
export type CallOptions<E extends Endpoint> = ([ParamNames<PathOf<E>>] extends [never] ? { params?: undefined } : { params: ParamsOf<E> }) &
  (BodyOf<E> extends undefined ? { body?: undefined } : { body: BodyOf<E> }) &
  (QueryOf<E> extends undefined ? { query?: undefined } : { query?: QueryOf<E> });

/** The arguments after the endpoint: none where `E` needs nothing, else its options. */
export type CallArgs<E extends Endpoint> = object extends CallOptions<E> ? [options?: CallOptions<E>] : [options: CallOptions<E>];

/** The path of `E` with its segments filled in (each percent-encoded), below API_PATH and without a leading slash. */
export function endpointPath<E extends Endpoint>(endpoint: E, params?: ParamsOf<E>): string {
  const path = endpoint.slice(endpoint.indexOf(' ') + 2);
  return path.replace(/:([a-z_]+)/g, (_m, name: string) => {
    const value = (params as Record<string, string> | undefined)?.[name];
    if (typeof value !== 'string') {
      throw new Error(`${endpoint}: no value for :${name}`);
    }
    return encodeURIComponent(value);
  });
}

/** The method of `E`. */
export function endpointMethod<E extends Endpoint>(endpoint: E): MethodOf<E> {
  return endpoint.slice(0, endpoint.indexOf(' ')) as MethodOf<E>;
}
