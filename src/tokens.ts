import { Token } from '@lumino/coreutils';
import { IDisposable } from '@lumino/disposable';
import { ISignal } from '@lumino/signaling';
import type { WorkspaceRestarter } from './restart';
import type { CallArgs, Endpoint, HookEvent, IdleNotice, ResponseOf, StatusResponse, UsageResponse } from '@jupyterlab-gpu-workspace/api';

// The wire types are defined once, in the contract package, for the extension, the sidecar and the tests.
export type {
  ErrorBody,
  GpuDevice as IGpuDevice,
  GpuProfile as IGpuProfile,
  GpuStatus as IGpuStatus,
  IdleNotice as IIdleNotice,
  IdleStatus as IIdleStatus,
  KeepAwakeLease as IKeepAwakeLease,
  JupyterState as JupyterServerState,
  QuotaStatus as IQuotaStatus,
  StatusResponse as IWorkspaceStatus,
  UsageResponse as IUsage
} from '@jupyterlab-gpu-workspace/api';

/**
 * How the frontend sees the workspace service.
 * - connecting: no answer yet
 * - connected: the sidecar answers and its version matches ours
 * - restarting: a restart we asked for is under way
 * - unreachable: the last status request failed
 * - version-mismatch: the sidecar answers but was built from another version
 */
export type ConnectionState = 'connecting' | 'connected' | 'restarting' | 'unreachable' | 'version-mismatch';

/**
 * Calls the sidecar API by its endpoint map (packages/api): the method and
 * path come from the key, the body and answer types from the map. Throws
 * WorkspaceRequestError with the server's message.
 */
export interface IWorkspaceRequester {
  call<E extends Endpoint>(endpoint: E, ...args: CallArgs<E>): Promise<ResponseOf<E>>;
  /** The absolute URL of `E`, for what the browser fetches itself (a download). */
  url<E extends Endpoint>(endpoint: E, ...args: CallArgs<E>): string;
}

export interface IWorkspaceModel extends IDisposable {
  /** The last status the sidecar sent, or null before the first answer. */
  readonly status: StatusResponse | null;
  readonly connection: ConnectionState;
  /** Why the last request failed, for tooltips and notifications. */
  readonly lastError: string | null;
  readonly frontendVersion: string;
  /** Emitted whenever status, connection or lastError change. */
  readonly changed: ISignal<IWorkspaceModel, void>;
  /** Fetches the status now instead of at the next poll. */
  refresh(): Promise<void>;
  /** Asks the sidecar to restart the Jupyter server; resolves when it runs again, rejects with why it failed. */
  restartServer(): Promise<void>;
  /** Switches GPU mode (the server restarts); resolves when it runs in the new mode, rejects with why it failed. */
  setGpuMode(enabled: boolean, profile?: string): Promise<void>;
  /** Sessions and grants of the current period, for the usage panel. */
  usage(): Promise<UsageResponse>;
  /** When the current status arrived (ms since epoch), to count time down between polls. */
  readonly statusReceivedAt: number;
  /** Notices the sidecar pushes (the last keep-awake lease ended, the workspace stopped or started). */
  readonly notice: ISignal<IWorkspaceModel, IdleNotice>;
  /** Operator hook runs as they start, write output and end (the `hook` events of the live channel). */
  readonly hookEvent: ISignal<IWorkspaceModel, HookEvent>;
  /** Tells the sidecar the user is here (real input): the idle clock starts over. */
  keepWorking(): Promise<void>;
  /** The request layer, for plugins that call endpoints of their own. */
  readonly requester: IWorkspaceRequester;
}

export const IWorkspaceModel = new Token<IWorkspaceModel>(
  'jupyterlab-gpu-workspace:IWorkspaceModel',
  'The GPU workspace: state from the sidecar, kept fresh, and requests to it.'
);

/** The log panel of operator hooks (post-reset hook, conversions, command destinations). */
export interface IHookLogViewer {
  /** Opens (or shows again) the log of a hook run in the main area; it follows the output live while the run lasts. */
  open(runId: string): void;
}

export const IHookLogViewer = new Token<IHookLogViewer>(
  'jupyterlab-gpu-workspace:IHookLogViewer',
  "Shows an operator hook's output, with its colours and exit code."
);

export const IWorkspaceRestarter = new Token<WorkspaceRestarter>(
  'jupyterlab-gpu-workspace:IWorkspaceRestarter',
  'Saves, shuts kernels down, restarts the Jupyter server and starts fresh kernels: shared by Refresh and GPU switches so only one runs at a time.'
);
