import { Token } from '@lumino/coreutils';
import { IDisposable } from '@lumino/disposable';
import { ISignal } from '@lumino/signaling';

/** The Jupyter server's state as the sidecar's supervisor reports it. */
export type JupyterServerState = 'stopped' | 'starting' | 'running' | 'stopping' | 'restarting' | 'crashed';

export interface IGpuDevice {
  index: number;
  uuid: string;
  name: string;
  memory_total_mib: number;
  memory_used_mib: number;
  utilization_percent: number;
}

export interface IGpuProfile {
  name: string;
  label: string;
  weight: number;
  devices: string | null;
}

export interface IGpuStatus {
  available: boolean;
  reason: string | null;
  mode: 'on' | 'off' | 'switching';
  target: 'on' | 'off' | null;
  devices: IGpuDevice[];
  profile: string | null;
  profiles: IGpuProfile[];
  idle_since: string | null;
  idle_warning: boolean;
  idle_warning_minutes: number;
  exhausted_switch_at: string | null;
}

export interface IQuotaStatus {
  allocation_seconds: number;
  used_seconds: number;
  remaining_seconds: number;
  granted_seconds: number;
  period: string;
  window_start: string | null;
  next_reset: string | null;
  burn_rate: number;
  warn_minutes: number[];
}

/** GET /gpu-workspace/api/v1/usage */
export interface IUsage {
  quota: IQuotaStatus;
  sessions: Array<{
    id: number;
    profile: string;
    weight: number;
    started_at: string;
    ended_at: string | null;
    charged_seconds: number;
  }>;
  grants: Array<{ id: number; at: string; hours: number; reason: string; actor: string }>;
}

/** GET /gpu-workspace/api/v1/status */
export interface IWorkspaceStatus {
  version: string;
  api_version: number;
  jupyter: {
    state: JupyterServerState;
    pid: number | null;
    started_at: string | null;
    restarts: number;
    crashes: number;
    last_exit: string | null;
  };
  user: { username: string; name: string };
  gpu: IGpuStatus;
  quota: IQuotaStatus;
}

/**
 * How the frontend sees the workspace service.
 * - connecting: no answer yet
 * - connected: the sidecar answers and its version matches ours
 * - restarting: a restart we asked for is under way
 * - unreachable: the last status request failed
 * - version-mismatch: the sidecar answers but was built from another version
 */
export type ConnectionState = 'connecting' | 'connected' | 'restarting' | 'unreachable' | 'version-mismatch';

/** Sends requests to the sidecar API; throws WorkspaceRequestError with the server's message. */
export interface IWorkspaceRequester {
  request<T>(endpoint: string, init?: { method?: string; body?: unknown }): Promise<T>;
}

export interface IWorkspaceModel extends IDisposable {
  /** The last status the sidecar sent, or null before the first answer. */
  readonly status: IWorkspaceStatus | null;
  readonly connection: ConnectionState;
  /** Why the last request failed, for tooltips and notifications. */
  readonly lastError: string | null;
  readonly frontendVersion: string;
  /** Emitted whenever status, connection or lastError change. */
  readonly changed: ISignal<IWorkspaceModel, void>;
  /** Fetches the status now instead of at the next poll. */
  refresh(): Promise<void>;
  /** Asks the sidecar to restart the Jupyter server; resolves when it is back. */
  restartServer(): Promise<void>;
  /** Switches GPU mode (the server restarts); resolves when it runs in the new mode. */
  setGpuMode(enabled: boolean, profile?: string): Promise<void>;
  /** Sessions and grants of the current period, for the usage panel. */
  usage(): Promise<IUsage>;
  /** When the current status arrived (ms since epoch), to count time down between polls. */
  readonly statusReceivedAt: number;
  /** The request layer, for plugins that call endpoints of their own. */
  readonly requester: IWorkspaceRequester;
}

export const IWorkspaceModel = new Token<IWorkspaceModel>(
  'jupyterlab-gpu-workspace:IWorkspaceModel',
  'The GPU workspace: state from the sidecar, kept fresh, and requests to it.'
);
