import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { WorkspaceModel } from '../../src/model';
import { endpointMethod, endpointPath } from '@jupyterlab-gpu-workspace/api';
import type { CallArgs, Endpoint, ResponseOf, StatusResponse } from '@jupyterlab-gpu-workspace/api';
import type { IWorkspaceRequester } from '../../src/tokens';

/** A scripted sidecar: each endpoint answers with the next queued reply (a value, or an error to throw). */
class ScriptedSidecar implements IWorkspaceRequester {
  calls: Array<{ endpoint: string; method: string; body: unknown }> = [];
  private replies = new Map<string, Array<() => Promise<unknown>>>();
  private fallback = new Map<string, () => Promise<unknown>>();

  always(endpoint: string, reply: () => Promise<unknown>): void {
    this.fallback.set(endpoint, reply);
  }

  once(endpoint: string, reply: () => Promise<unknown>): void {
    const list = this.replies.get(endpoint) ?? [];
    list.push(reply);
    this.replies.set(endpoint, list);
  }

  /** Scripts are keyed by the path below the API ("server/restart"), as the requester fills it in. */
  async call<E extends Endpoint>(key: E, ...[options]: CallArgs<E>): Promise<ResponseOf<E>> {
    const endpoint = endpointPath(key, options?.params);
    this.calls.push({ endpoint, method: endpointMethod(key), body: options?.body });
    const next = this.replies.get(endpoint)?.shift() ?? this.fallback.get(endpoint);
    if (!next) {
      throw new Error(`no reply scripted for ${endpoint}`);
    }
    return (await next()) as ResponseOf<E>;
  }

  url<E extends Endpoint>(key: E, ...[options]: CallArgs<E>): string {
    return `/gpu-workspace/api/v1/${endpointPath(key, options?.params)}`;
  }
}

const status = (version: string, pid = 100, restarts = 0): StatusResponse => ({
  version,
  api_version: 1,
  jupyter: {
    state: 'running',
    pid,
    started_at: '2026-11-22T00:00:00Z',
    generation: restarts + 1,
    restarts,
    crashes: 0,
    last_exit: null,
    last_error: null
  },
  user: { username: 'alice', name: 'Alice' },
  isolation: { user: 'jovyan', enforced: true, reason: null },
  gpu: {
    available: true,
    reason: null,
    mode: 'off',
    target: null,
    switch_reason: null,
    last_error: null,
    devices: [],
    profile: null,
    profiles: [{ name: 'gpu', label: 'GPU', weight: 1, devices: null }],
    idle_since: null,
    idle_warning: false,
    idle_warning_minutes: 15,
    utilization_error: null,
    cpu_mode_enforced: true,
    cpu_mode_reason: null,
    watchdog_stopped: [],
    exhausted_switch_at: null
  },
  quota: {
    allocation_seconds: 36000,
    used_seconds: 0,
    remaining_seconds: 36000,
    granted_seconds: 0,
    period: 'week',
    window_start: null,
    next_reset: null,
    burn_rate: 0,
    warn_minutes: [60, 15]
  },
  idle: {
    state: 'active',
    deadline: '2026-11-22T00:30:00Z',
    warning_at: '2026-11-22T00:25:00Z',
    leases: [],
    stopped_at: null,
    last_activity: '2026-11-22T00:00:00Z',
    timeout_minutes: 30,
    warning_minutes: 5,
    signals: 'user',
    max_hours: 12,
    heartbeat_seconds: 15,
    starting: false
  }
});

const models: WorkspaceModel[] = [];
function makeModel(sidecar: ScriptedSidecar, frontendVersion = '1.2.3'): WorkspaceModel {
  // Short intervals: a disposed Poll does not cancel its pending timer, which would keep the test process alive.
  const model = new WorkspaceModel({
    requester: sidecar,
    frontendVersion,
    pollIntervalMs: 1_000,
    pollMaxMs: 2_000,
    progressIntervalMs: 5,
    progressTimeoutMs: 2_000
  });
  models.push(model);
  return model;
}

function nextChange(model: WorkspaceModel): Promise<void> {
  return new Promise(resolve => {
    const once = (): void => {
      model.changed.disconnect(once);
      resolve();
    };
    model.changed.connect(once);
  });
}

describe('WorkspaceModel', () => {
  afterEach(() => {
    models.splice(0).forEach(m => m.dispose());
  });

  it('is connecting until the sidecar first answers, then connected with its status', async () => {
    const sidecar = new ScriptedSidecar();
    sidecar.always('status', async () => status('1.2.3'));
    const model = makeModel(sidecar);
    assert.equal(model.connection, 'connecting');
    await nextChange(model);
    assert.equal(model.connection, 'connected');
    assert.equal(model.status?.user.username, 'alice');
    assert.equal(model.lastError, null);
  });

  it('says plainly when the sidecar was built from another version', async () => {
    const sidecar = new ScriptedSidecar();
    sidecar.always('status', async () => status('9.9.9'));
    const model = makeModel(sidecar, '1.2.3');
    await nextChange(model);
    assert.equal(model.connection, 'version-mismatch');
    assert.match(model.lastError ?? '', /9\.9\.9/);
    assert.match(model.lastError ?? '', /1\.2\.3/);
  });

  it('reports the sidecar unreachable with its message, and recovers on the next answer', async () => {
    const sidecar = new ScriptedSidecar();
    sidecar.once('status', async () => {
      throw new Error('The workspace service cannot be reached: connection refused');
    });
    sidecar.always('status', async () => status('1.2.3'));
    const model = makeModel(sidecar);
    await nextChange(model);
    assert.equal(model.connection, 'unreachable');
    assert.match(model.lastError ?? '', /connection refused/);
    await model.refresh();
    assert.equal(model.connection, 'connected');
    assert.equal(model.lastError, null);
  });

  it('shows restarting while the server restarts, and waits for the new server, not the old one', async () => {
    const sidecar = new ScriptedSidecar();
    sidecar.once('status', async () => status('1.2.3', 100, 0));
    const restarting = status('1.2.3', 100, 0);
    restarting.jupyter.state = 'restarting';
    restarting.jupyter.pid = null;
    sidecar.once('server/restart', async () => ({ jupyter: restarting.jupyter }));
    // While the restart runs the status still shows the old generation, then a failed request, then the new server.
    sidecar.once('status', async () => restarting);
    sidecar.once('status', async () => {
      throw new Error('The workspace service cannot be reached: connection reset');
    });
    sidecar.always('status', async () => status('1.2.3', 200, 1));
    const model = makeModel(sidecar);
    await nextChange(model);
    const restart = model.restartServer();
    assert.equal(model.connection, 'restarting');
    await restart;
    assert.equal(model.connection, 'connected');
    assert.equal(model.status?.jupyter.pid, 200);
    assert.equal(model.status?.jupyter.generation, 2);
    const post = sidecar.calls.find(c => c.endpoint === 'server/restart');
    assert.equal(post?.method, 'POST');
  });

  it('rejects with the sidecar\'s reason when the restart it accepted fails', async () => {
    const sidecar = new ScriptedSidecar();
    sidecar.once('status', async () => status('1.2.3', 100, 0));
    const restarting = status('1.2.3', 100, 0);
    restarting.jupyter.state = 'restarting';
    sidecar.once('server/restart', async () => ({ jupyter: restarting.jupyter }));
    const crashed = status('1.2.3', 100, 0);
    crashed.jupyter.state = 'crashed';
    crashed.jupyter.last_error = 'Jupyter did not answer on its socket within 120 s.';
    sidecar.always('status', async () => crashed);
    const model = makeModel(sidecar);
    await nextChange(model);
    await assert.rejects(model.restartServer(), /did not answer on its socket/);
  });

  it('passes a refused restart on to the caller and does not stay stuck in restarting', async () => {
    const sidecar = new ScriptedSidecar();
    sidecar.always('status', async () => status('1.2.3'));
    sidecar.once('server/restart', async () => {
      throw new Error('The Jupyter server is already starting, stopping or restarting.');
    });
    const model = makeModel(sidecar);
    await nextChange(model);
    await assert.rejects(model.restartServer(), /already starting/);
    await model.refresh();
    assert.equal(model.connection, 'connected');
  });

  it('stops asking the sidecar once disposed', async () => {
    const sidecar = new ScriptedSidecar();
    sidecar.always('status', async () => status('1.2.3'));
    const model = new WorkspaceModel({ requester: sidecar, frontendVersion: '1.2.3', pollIntervalMs: 20 });
    await nextChange(model);
    await new Promise(r => setTimeout(r, 100));
    model.dispose();
    const count = sidecar.calls.length;
    assert.ok(count >= 2, `expected the poll to have run more than once, saw ${count}`);
    await new Promise(r => setTimeout(r, 100));
    assert.equal(sidecar.calls.length, count);
  });

  it('switches GPU mode with one POST, showing restarting until the status says the switch ended', async () => {
    const sidecar = new ScriptedSidecar();
    sidecar.once('status', async () => status('1.2.3'));
    const switching = status('1.2.3');
    switching.gpu.mode = 'switching';
    switching.gpu.target = 'on';
    sidecar.once('gpu', async () => ({ gpu: switching.gpu, quota: switching.quota, jupyter: switching.jupyter }));
    sidecar.once('status', async () => switching);
    const on = status('1.2.3', 200, 1);
    on.gpu.mode = 'on';
    sidecar.always('status', async () => on);
    const model = makeModel(sidecar);
    await nextChange(model);
    const pending = model.setGpuMode(true, 'half');
    assert.equal(model.connection, 'restarting');
    await pending;
    assert.equal(model.status?.gpu.mode, 'on');
    assert.equal(model.connection, 'connected');
    assert.deepEqual(sidecar.calls.find(c => c.endpoint === 'gpu'), { endpoint: 'gpu', method: 'POST', body: { enabled: true, profile: 'half' } });
  });

  it('rejects with the sidecar\'s reason when the switch it accepted fails', async () => {
    const sidecar = new ScriptedSidecar();
    sidecar.once('status', async () => status('1.2.3'));
    const switching = status('1.2.3');
    switching.gpu.mode = 'switching';
    sidecar.once('gpu', async () => ({ gpu: switching.gpu, quota: switching.quota, jupyter: switching.jupyter }));
    const failed = status('1.2.3', 200, 1);
    failed.gpu.last_error = 'GPU mode could not be turned on: Jupyter stopped during start-up.';
    sidecar.always('status', async () => failed);
    const model = makeModel(sidecar);
    await nextChange(model);
    await assert.rejects(model.setGpuMode(true), /could not be turned on/);
  });

  it('remembers when the status arrived, so the meter can count down between polls', async () => {
    const sidecar = new ScriptedSidecar();
    sidecar.always('status', async () => status('1.2.3'));
    const before = Date.now();
    const model = makeModel(sidecar);
    await nextChange(model);
    assert.ok(model.statusReceivedAt >= before && model.statusReceivedAt <= Date.now());
  });
});

/** A stand-in for the browser's EventSource: the test plays the sidecar's side of the stream. */
class FakeEventSource {
  static last: FakeEventSource | null = null;
  readyState = 0;
  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;
  closed = false;
  private listeners = new Map<string, (event: { data: string }) => void>();
  constructor(readonly url: string) {
    FakeEventSource.last = this;
  }
  addEventListener(type: string, listener: (event: { data: string }) => void): void {
    this.listeners.set(type, listener);
  }
  close(): void {
    this.closed = true;
    this.readyState = 2;
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.();
  }
  send(type: string, data: unknown): void {
    this.listeners.get(type)?.({ data: JSON.stringify(data) });
  }
}

describe('WorkspaceModel with live events', () => {
  const g = globalThis as { EventSource?: unknown };
  afterEach(() => {
    models.splice(0).forEach(m => m.dispose());
    delete g.EventSource;
  });

  it('takes the live state from the stream, slows the poll while it is open, and passes notices and hook output on', async () => {
    g.EventSource = FakeEventSource;
    const sidecar = new ScriptedSidecar();
    sidecar.always('status', async () => status('1.2.3'));
    const model = new WorkspaceModel({ requester: sidecar, frontendVersion: '1.2.3', pollIntervalMs: 1_000, pollMaxMs: 2_000, eventsUrl: '/gpu-workspace/api/v1/events', fallbackPollMs: 60_000 });
    models.push(model);
    await nextChange(model);
    const source = FakeEventSource.last as FakeEventSource;
    assert.equal(source.url, '/gpu-workspace/api/v1/events');
    source.open();
    assert.equal(model.live, true);
    const base = status('1.2.3');
    const changed = nextChange(model);
    source.send('state', { jupyter: base.jupyter, gpu: base.gpu, quota: base.quota, idle: { ...base.idle, state: 'warning' } });
    await changed;
    assert.equal(model.status?.idle.state, 'warning');
    assert.equal(model.status?.user.username, 'alice', 'what the stream does not carry is kept');
    const notices: string[] = [];
    model.notice.connect((_, n) => notices.push(n.kind));
    source.send('notice', { kind: 'lease_ended', message: 'm', snapshot: null });
    assert.deepEqual(notices, ['lease_ended']);
    const hookOutput: string[] = [];
    model.hookEvent.connect((_, e) => hookOutput.push(`${e.run.id}@${e.offset}:${e.chunk}`));
    const run = { id: 'abcdef012345', title: 'Post-reset hook', command: ['true'], state: 'running', exit_code: null, signal: null, started_at: '', ended_at: null, timeout_seconds: 60 };
    source.send('hook', { run, chunk: 'hello', offset: 0 });
    assert.deepEqual(hookOutput, ['abcdef012345@0:hello']);
    model.dispose();
    assert.equal(source.closed, true);
  });
});
