/**
 * The idle policy on its own, with a stand-in supervisor and leases held by
 * stand-in processes: the order of the stop (snapshot, then Jupyter), one
 * start however often Start is pressed (even during the stop), leases
 * holding past the deadline, and what happens when the last one ends.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IdleNotice, SnapshotTrigger } from '@jupyterlab-gpu-workspace/api';
import { IdleController, IdlePolicy, ParkableSupervisor } from '../../src/idle/controller';
import { LeaseTable } from '../../src/idle/leases';
import { createLogger } from '../../src/log';

const TIMEOUT_MS = 300;
const policy: IdlePolicy = { timeoutMinutes: TIMEOUT_MS / 60_000, warningMinutes: 100 / 60_000, signals: 'user', maxHours: 1, heartbeatSeconds: 60 };

class FakeSupervisor implements ParkableSupervisor {
  isParked = false;
  calls: string[] = [];
  parkGate: Promise<void> = Promise.resolve();
  async park(): Promise<void> {
    this.calls.push('park');
    await this.parkGate;
    this.isParked = true;
  }
  async resume(): Promise<void> {
    this.calls.push('resume');
    await new Promise(r => setTimeout(r, 20));
    this.isParked = false;
  }
}

function setUp(options: { alive?: Set<number>; signals?: IdlePolicy['signals'] } = {}) {
  const alive = options.alive ?? new Set<number>();
  const supervisor = new FakeSupervisor();
  const snapshots: SnapshotTrigger[] = [];
  const leases = new LeaseTable({
    policy: { maxHours: 1, heartbeatSeconds: 60, maxLeases: 4, maxAcquiresPerMinute: 100 },
    ownerUid: 1000,
    processUid: pid => (alive.has(pid) ? 1000 : null)
  });
  const idle = new IdleController({
    policy: { ...policy, signals: options.signals ?? 'user' },
    leases,
    supervisor,
    snapshotter: {
      snapshotFor: async trigger => {
        snapshots.push(trigger);
        supervisor.calls.push(`snapshot:${trigger}`);
        return { taken: true, id: 'abc123' };
      }
    },
    log: createLogger('error'),
    sweepMs: 20
  });
  const notices: IdleNotice[] = [];
  idle.on('notice', n => notices.push(n));
  idle.start();
  return { idle, leases, supervisor, snapshots, notices, alive };
}

const waitUntil = async (what: string, check: () => boolean, timeoutMs = 3000): Promise<void> => {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise(r => setTimeout(r, 5));
  }
};

test('at the deadline: warning first, then the idle-stop snapshot, then Jupyter stops', async () => {
  const { idle, supervisor, notices } = setUp();
  try {
    await waitUntil('the warning', () => idle.state() === 'warning');
    await waitUntil('the stop', () => supervisor.isParked);
    assert.deepEqual(supervisor.calls, ['snapshot:idle-stop', 'park']);
    assert.equal(idle.status().state, 'stopped');
    assert.equal(idle.status().deadline, null);
    await waitUntil('the notice', () => notices.length > 0);
    assert.equal(notices[0].kind, 'stopped');
    assert.match(notices[0].snapshot ?? '', /abc123/);
  } finally {
    idle.close();
  }
});

test('busy kernels count only with user_or_kernels; user activity always does', async () => {
  const { idle } = setUp();
  try {
    const before = idle.status().deadline;
    await new Promise(r => setTimeout(r, 30));
    idle.activity('kernel');
    assert.equal(idle.status().deadline, before);
    idle.activity('user');
    assert.ok(Date.parse(idle.status().deadline ?? '') > Date.parse(before ?? ''));
  } finally {
    idle.close();
  }
  const withKernels = setUp({ signals: 'user_or_kernels' });
  try {
    const before = withKernels.idle.status().deadline;
    await new Promise(r => setTimeout(r, 30));
    withKernels.idle.activity('kernel');
    assert.ok(Date.parse(withKernels.idle.status().deadline ?? '') > Date.parse(before ?? ''));
  } finally {
    withKernels.idle.close();
  }
});

test('Start pressed during the stop, and again, is one start after the stop ends', async () => {
  const { idle, supervisor } = setUp();
  let openGate = (): void => undefined;
  supervisor.parkGate = new Promise(r => (openGate = r));
  try {
    await waitUntil('the stop to begin', () => supervisor.calls.includes('park'));
    assert.equal(idle.state(), 'stopped');
    const first = idle.startAgain();
    const second = idle.startAgain();
    assert.equal(first.started, true);
    assert.equal(second.started, false);
    assert.equal(idle.status().starting, true);
    openGate();
    await Promise.all([first.done, second.done]);
    assert.deepEqual(supervisor.calls, ['snapshot:idle-stop', 'park', 'resume']);
    assert.equal(idle.state(), 'active');
    assert.equal(idle.startAgain().started, false, 'not stopped: nothing to start');
  } finally {
    idle.close();
  }
});

test('a lease holds past the deadline; when its holder exits the clock runs again, with a snapshot and a notice', async () => {
  const { idle, leases, supervisor, notices, alive } = setUp({ alive: new Set([4242]) });
  try {
    leases.acquire('training', 4242, undefined);
    assert.equal(idle.state(), 'held');
    await new Promise(r => setTimeout(r, TIMEOUT_MS * 2));
    assert.equal(idle.state(), 'held');
    assert.deepEqual(supervisor.calls, []);
    alive.delete(4242);
    const ended = Date.now();
    await waitUntil('the lease to end', () => leases.size === 0);
    assert.notEqual(idle.state(), 'held');
    assert.ok(Date.parse(idle.status().deadline ?? '') >= ended + TIMEOUT_MS - 50);
    await waitUntil('the notice', () => notices.some(n => n.kind === 'lease_ended'));
    assert.deepEqual(supervisor.calls, ['snapshot:keep-awake-end']);
    await waitUntil('the stop after the lease', () => supervisor.isParked);
  } finally {
    idle.close();
  }
});

test('a lease above the cap is capped; a lease whose heartbeats stop ends', async () => {
  let now = 1_000_000;
  const leases = new LeaseTable({
    policy: { maxHours: 1, heartbeatSeconds: 10, maxLeases: 2, maxAcquiresPerMinute: 100 },
    ownerUid: 1000,
    processUid: pid => (pid === 7 ? 1000 : pid === 8 ? 0 : null),
    now: () => now
  });
  const asked = leases.acquire('x', 7, 5 * 3600);
  assert.equal(asked.capped, true);
  assert.equal(asked.ttlSeconds, 3600);
  assert.throws(() => leases.acquire('x', 8, 10), /not one of the workspace's own processes/);
  assert.throws(() => leases.acquire('x', 9, 10), /No process 9/);
  leases.acquire('y', 7, 10);
  assert.throws(() => leases.acquire('z', 7, 10), (e: { status?: number; message: string }) => e.status === 429 && /at most 2 at once/.test(e.message));
  const ends: string[] = [];
  leases.on('ended', (_l, why) => ends.push(why));
  now += 11_000;
  leases.sweep();
  assert.deepEqual(ends, ['cap_reached']);
  now += 25_000;
  leases.sweep();
  assert.deepEqual(ends, ['cap_reached', 'heartbeats_stopped']);
});
