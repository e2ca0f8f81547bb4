import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { API_PATH } from '@jupyterlab-gpu-workspace/api';
import { IWorkspaceRequester } from './tokens';

export { API_PATH };

/** A failed sidecar request; `message` is the sidecar's own JSON message, fit to show a user. */
export class WorkspaceRequestError extends Error {
  constructor(
    readonly status: number,
    message: string
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

  async request<T>(endpoint: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
    const url = URLExt.join(this.settings.baseUrl, API_PATH, endpoint);
    const requestInit: RequestInit = { method: init.method ?? 'GET' };
    if (init.body !== undefined) {
      requestInit.body = JSON.stringify(init.body);
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
      throw new WorkspaceRequestError(response.status, message);
    }
    return data as T;
  }
}
