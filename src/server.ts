import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { API_PATH, endpointMethod, endpointPath } from '@jupyterlab-gpu-workspace/api';
import type { CallArgs, Endpoint, HookFailure, ResponseOf } from '@jupyterlab-gpu-workspace/api';
import { IWorkspaceRequester } from './tokens';

export { API_PATH };

/** A failed sidecar request; `message` is the sidecar's own JSON message, fit to show a user. */
export class WorkspaceRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** The whole JSON error body (code, and details such as `hook` of a failed hook), when there was one. */
    readonly body: Record<string, unknown> | null = null
  ) {
    super(message);
    this.name = 'WorkspaceRequestError';
  }
}

/**
 * Calls the sidecar as if it were a Jupyter server extension, so the token,
 * cookie and XSRF header travel exactly as they do for Jupyter's own API.
 */
export class WorkspaceRequester implements IWorkspaceRequester {
  constructor(private readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()) {}

  url<E extends Endpoint>(endpoint: E, ...[options]: CallArgs<E>): string {
    const query = options?.query ? `?${new URLSearchParams(Object.entries(options.query).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]))}` : '';
    return URLExt.join(this.settings.baseUrl, API_PATH, endpointPath(endpoint, options?.params)) + query;
  }

  async call<E extends Endpoint>(endpoint: E, ...args: CallArgs<E>): Promise<ResponseOf<E>> {
    const [options] = args;
    const url = this.url(endpoint, ...args);
    const requestInit: RequestInit = { method: endpointMethod(endpoint) };
    if (options?.body !== undefined) {
      requestInit.body = JSON.stringify(options.body);
      requestInit.headers = { 'Content-Type': 'application/json' };
    }
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, requestInit, this.settings);
    } catch (err) {
      throw new WorkspaceRequestError(0, `The workspace service cannot be reached: ${(err as Error).message}`);
    }
    const text = await response.text();
    let data: unknown = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!response.ok) {
      const message =
        data && typeof data === 'object' && typeof (data as { message?: unknown }).message === 'string'
          ? (data as { message: string }).message
          : `The workspace service answered ${response.status} ${response.statusText}.`;
      const body = data && typeof data === 'object' && !Array.isArray(data) ? (data as Record<string, unknown>) : null;
      throw new WorkspaceRequestError(response.status, message, body);
    }
    return data as ResponseOf<E>;
  }
}

/** The failed hook named by an API error (code `hook_failed`), so its log can be offered. */
export function hookFailureOf(err: unknown): HookFailure | null {
  if (!(err instanceof WorkspaceRequestError) || err.body?.code !== 'hook_failed') {
    return null;
  }
  const hook = err.body.hook as HookFailure | undefined;
  return hook && typeof hook === 'object' && typeof hook.run?.id === 'string' ? hook : null;
}
