import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';
import { ConnectionState, IUsage, IWorkspaceModel, IWorkspaceRequester, IWorkspaceStatus } from './tokens';

export interface IWorkspaceModelOptions {
  requester: IWorkspaceRequester;
  frontendVersion: string;
  /** How often the status is fetched while the tab is visible. */
  pollIntervalMs?: number;
  /** Longest back-off between fetches while the sidecar does not answer. */
  pollMaxMs?: number;
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * The workspace as the frontend knows it. One poll keeps it fresh and stands
 * by while the tab is hidden; surfaces listen to `changed` and never fetch on
 * their own.
 */
export class WorkspaceModel implements IWorkspaceModel {
  readonly requester: IWorkspaceRequester;
  readonly frontendVersion: string;
  private _status: IWorkspaceStatus | null = null;
  private _connection: ConnectionState = 'connecting';
  private _lastError: string | null = null;
  private _restarting = false;
  private _statusReceivedAt = 0;
  private _changed = new Signal<IWorkspaceModel, void>(this);
  private _poll: Poll;
  private _isDisposed = false;

  constructor(options: IWorkspaceModelOptions) {
    this.requester = options.requester;
    this.frontendVersion = options.frontendVersion;
    const interval = options.pollIntervalMs ?? 10_000;
    this._poll = new Poll({
      auto: true,
      factory: () => this.fetchStatus(),
      frequency: { interval, backoff: true, max: options.pollMaxMs ?? 60_000 },
      name: 'jupyterlab-gpu-workspace:status',
      standby: 'when-hidden'
    });
  }

  get status(): IWorkspaceStatus | null {
    return this._status;
  }

  get connection(): ConnectionState {
    return this._connection;
  }

  get statusReceivedAt(): number {
    return this._statusReceivedAt;
  }

  get lastError(): string | null {
    return this._lastError;
  }

  get changed(): ISignal<IWorkspaceModel, void> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  async refresh(): Promise<void> {
    await this._poll.refresh();
    await this._poll.tick;
  }

  restartServer(): Promise<void> {
    return this.restartingCall('server/restart', {});
  }

  setGpuMode(enabled: boolean, profile?: string): Promise<void> {
    return this.restartingCall('gpu', profile === undefined ? { enabled } : { enabled, profile });
  }

  /** A POST during which the Jupyter server restarts: the model says so until the sidecar answers. */
  private async restartingCall(endpoint: string, body: unknown): Promise<void> {
    this._restarting = true;
    this.update({ connection: 'restarting', lastError: null });
    try {
      await this.requester.request(endpoint, { method: 'POST', body });
    } finally {
      this._restarting = false;
    }
    await this.fetchStatus().catch(() => undefined);
  }

  usage(): Promise<IUsage> {
    return this.requester.request<IUsage>('usage');
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._poll.dispose();
    Signal.clearData(this);
  }

  /** One status fetch; a failure rejects so the poll backs off. */
  private async fetchStatus(): Promise<void> {
    try {
      const status = await this.requester.request<IWorkspaceStatus>('status');
      this._statusReceivedAt = Date.now();
      const mismatch = status.version !== this.frontendVersion;
      this.update({
        status,
        connection: mismatch ? 'version-mismatch' : this._restarting ? 'restarting' : 'connected',
        lastError: mismatch
          ? `The workspace service is version ${status.version}, but this page was built for ${this.frontendVersion}.`
          : null
      });
    } catch (err) {
      this.update({ connection: this._restarting ? 'restarting' : 'unreachable', lastError: messageOf(err) });
      throw err;
    }
  }

  private update(next: { status?: IWorkspaceStatus; connection: ConnectionState; lastError: string | null }): void {
    const statusChanged = next.status !== undefined && JSON.stringify(next.status) !== JSON.stringify(this._status);
    if (!statusChanged && next.connection === this._connection && next.lastError === this._lastError) {
      return;
    }
    if (next.status !== undefined) {
      this._status = next.status;
    }
    this._connection = next.connection;
    this._lastError = next.lastError;
    this._changed.emit();
  }
}
