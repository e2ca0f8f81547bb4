import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';
import type { HookEvent, IdleNotice, LiveState, StatusResponse, UsageResponse } from '@jupyterlab-gpu-workspace/api';
import { ConnectionState, IWorkspaceModel, IWorkspaceRequester } from './tokens';

export interface IWorkspaceModelOptions {
  requester: IWorkspaceRequester;
  frontendVersion: string;
  /** How often the status is fetched while the tab is visible. */
  pollIntervalMs?: number;
  /** Longest back-off between fetches while the sidecar does not answer. */
  pollMaxMs?: number;
  /** How often the status is asked for while a restart or switch this page asked for runs. */
  progressIntervalMs?: number;
  /** How long a restart or switch may take before the page gives up waiting. */
  progressTimeoutMs?: number;
  /**
   * The sidecar's live event stream (GET events). While it is connected the
   * status poll slows down to `fallbackPollMs`; null or no EventSource: polling only.
   */
  eventsUrl?: string | null;
  fallbackPollMs?: number;
}

/** How soon a closed event stream (the sidecar restarting, a 401) is opened again. */
const EVENTS_RETRY_MS = 3000;

const delay = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms));

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * The workspace as the frontend knows it. One poll keeps it fresh and stands
 * by while the tab is hidden; surfaces listen to `changed` and never fetch on
 * their own.
 */
export class WorkspaceModel implements IWorkspaceModel {
  readonly requester: IWorkspaceRequester;
  readonly frontendVersion: string;
  private _status: StatusResponse | null = null;
  private _connection: ConnectionState = 'connecting';
  private _lastError: string | null = null;
  private _restarting = false;
  private _statusReceivedAt = 0;
  private _changed = new Signal<IWorkspaceModel, void>(this);
  private _notice = new Signal<IWorkspaceModel, IdleNotice>(this);
  private _hookEvent = new Signal<IWorkspaceModel, HookEvent>(this);
  private _poll: Poll;
  private _events: EventSource | null = null;
  private _eventsRetry: ReturnType<typeof setTimeout> | null = null;
  private readonly _pollIntervalMs: number;
  private readonly _fallbackPollMs: number;
  private _isDisposed = false;
  private readonly _progressIntervalMs: number;
  private readonly _progressTimeoutMs: number;

  constructor(options: IWorkspaceModelOptions) {
    this.requester = options.requester;
    this.frontendVersion = options.frontendVersion;
    this._progressIntervalMs = options.progressIntervalMs ?? 500;
    this._progressTimeoutMs = options.progressTimeoutMs ?? 300_000;
    const interval = options.pollIntervalMs ?? 10_000;
    this._poll = new Poll({
      auto: true,
      factory: () => this.fetchStatus(),
      frequency: { interval, backoff: true, max: options.pollMaxMs ?? 60_000 },
      name: 'jupyterlab-gpu-workspace:status',
      standby: 'when-hidden'
    });
    this._pollIntervalMs = interval;
    this._fallbackPollMs = options.fallbackPollMs ?? 60_000;
    if (options.eventsUrl && typeof EventSource !== 'undefined') {
      this.connectEvents(options.eventsUrl);
    }
  }

  /** Notices from the sidecar (the last keep-awake lease ended, the workspace stopped or started). */
  get notice(): ISignal<IWorkspaceModel, IdleNotice> {
    return this._notice;
  }

  get hookEvent(): ISignal<IWorkspaceModel, HookEvent> {
    return this._hookEvent;
  }

  /** Whether the live event stream is connected (the poll is then only a slow fallback). */
  get live(): boolean {
    return this._events?.readyState === 1;
  }

  /** Tells the sidecar the user is here: the idle clock starts over. */
  async keepWorking(): Promise<void> {
    const answer = await this.requester.call('POST /activity', { body: {} });
    if (this._status) {
      this.update({ status: { ...this._status, idle: answer.idle }, connection: this._connection, lastError: this._lastError });
    }
  }

  /**
   * One EventSource per page: the sidecar pushes the whole live state on
   * connect and on every change. The browser reconnects by itself after a
   * dropped connection; a refused one (the sidecar restarting answers 503,
   * or a 401) closes it, and it is opened again here.
   */
  private connectEvents(url: string): void {
    const source = new EventSource(url, { withCredentials: true });
    this._events = source;
    source.addEventListener('state', event => {
      this.applyLive(JSON.parse((event as MessageEvent<string>).data) as LiveState);
    });
    source.addEventListener('notice', event => {
      this._notice.emit(JSON.parse((event as MessageEvent<string>).data) as IdleNotice);
    });
    source.addEventListener('hook', event => {
      this._hookEvent.emit(JSON.parse((event as MessageEvent<string>).data) as HookEvent);
    });
    source.onopen = () => {
      const frequency = this._poll.frequency;
      this._poll.frequency = { ...frequency, interval: this._fallbackPollMs, max: Math.max(frequency.max, this._fallbackPollMs) };
    };
    source.onerror = () => {
      this._poll.frequency = { ...this._poll.frequency, interval: this._pollIntervalMs };
      if (source.readyState === 2 && !this._isDisposed && this._events === source) {
        this._eventsRetry = setTimeout(() => {
          this._eventsRetry = null;
          if (!this._isDisposed) {
            this.connectEvents(url);
          }
        }, EVENTS_RETRY_MS);
      }
    };
  }

  private applyLive(live: LiveState): void {
    if (!this._status) {
      void this.refresh().catch(() => undefined);
      return;
    }
    const status: StatusResponse = { ...this._status, ...live };
    this._statusReceivedAt = Date.now();
    this.update({
      status,
      connection: this._restarting ? 'restarting' : status.version !== this.frontendVersion ? 'version-mismatch' : 'connected',
      lastError: this._connection === 'version-mismatch' ? this._lastError : null
    });
  }

  get status(): StatusResponse | null {
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

  /** Asks for a restart (202 at once), then follows it in the status until the new server runs. */
  restartServer(): Promise<void> {
    return this.duringRestart(async () => {
      const accepted = await this.requester.call('POST /server/restart', { body: {} });
      const generation = accepted.jupyter.generation;
      await this.waitForStatus(
        s => s.jupyter.state === 'running' && s.jupyter.generation > generation,
        s => (s.jupyter.state === 'crashed' && s.jupyter.generation === generation ? s.jupyter.last_error : null)
      );
    });
  }

  /** Asks for a switch (202 at once, 200 when already in that mode), then follows it until it ends. */
  setGpuMode(enabled: boolean, profile?: string): Promise<void> {
    return this.duringRestart(async () => {
      const accepted = await this.requester.call('POST /gpu', { body: profile === undefined ? { enabled } : { enabled, profile } });
      if (accepted.gpu.mode !== 'switching') {
        return;
      }
      await this.waitForStatus(
        s => s.gpu.mode !== 'switching' && s.jupyter.state === 'running' && s.gpu.last_error === null,
        s => (s.gpu.mode !== 'switching' ? s.gpu.last_error : null)
      );
    });
  }

  /** The model says "restarting" while `work` runs, and fetches the status after it. */
  private async duringRestart(work: () => Promise<void>): Promise<void> {
    this._restarting = true;
    this.update({ connection: 'restarting', lastError: null });
    try {
      await work();
    } finally {
      this._restarting = false;
    }
    await this.fetchStatus().catch(() => undefined);
  }

  /**
   * Asks for the status until `done` holds; rejects with the sidecar's own
   * words when `failed` returns them, or when it takes too long. Requests
   * that fail meanwhile are expected (the server is restarting) and retried.
   */
  private async waitForStatus(done: (s: StatusResponse) => boolean, failed: (s: StatusResponse) => string | null): Promise<void> {
    const deadline = Date.now() + this._progressTimeoutMs;
    while (!this._isDisposed) {
      let status: StatusResponse | null = null;
      try {
        status = await this.requester.call('GET /status');
      } catch {
        // The server is restarting: expected, asked again below.
      }
      if (status) {
        this._statusReceivedAt = Date.now();
        this.update({ status, connection: 'restarting', lastError: null });
        const failure = failed(status);
        if (failure) {
          throw new ProgressError(failure);
        }
        if (done(status)) {
          return;
        }
      }
      if (Date.now() >= deadline) {
        throw new ProgressError(`The workspace did not come back within ${Math.round(this._progressTimeoutMs / 1000)} s.`);
      }
      await delay(this._progressIntervalMs);
    }
  }

  usage(): Promise<UsageResponse> {
    return this.requester.call('GET /usage');
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._poll.dispose();
    this._events?.close();
    if (this._eventsRetry) {
      clearTimeout(this._eventsRetry);
    }
    Signal.clearData(this);
  }

  /** One status fetch; a failure rejects so the poll backs off. */
  private async fetchStatus(): Promise<void> {
    try {
      const status = await this.requester.call('GET /status');
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

  private update(next: { status?: StatusResponse; connection: ConnectionState; lastError: string | null }): void {
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

/** A restart or switch this page asked for ended badly; the message is the sidecar's, fit to show. */
class ProgressError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProgressError';
  }
}
