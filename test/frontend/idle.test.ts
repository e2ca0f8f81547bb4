import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nullTranslator } from '@jupyterlab/translation';
import type { IdleStatus } from '@jupyterlab-gpu-workspace/api';
import { describeLeases, formatCountdown, formatDuration, heartbeatIntervalMs, msToStop } from '../../src/idle';

const trans = nullTranslator.load('jupyterlab_gpu_workspace');

const idle = (over: Partial<IdleStatus> = {}): IdleStatus => ({
  state: 'active',
  deadline: '2026-01-01T00:30:00.000Z',
  warning_at: '2026-01-01T00:25:00.000Z',
  leases: [],
  stopped_at: null,
  last_activity: '2026-01-01T00:00:00.000Z',
  timeout_minutes: 30,
  warning_minutes: 5,
  signals: 'user',
  max_hours: 12,
  heartbeat_seconds: 15,
  starting: false,
  ...over
});

describe('the idle countdown', () => {
  it('reads as the warning dialog says it ("4:59"), never negative', () => {
    assert.equal(formatCountdown(299_001), '5:00');
    assert.equal(formatCountdown(299_000), '4:59');
    assert.equal(formatCountdown(3_723_000), '1:02:03');
    assert.equal(formatCountdown(-5), '0:00');
  });

  it('has no deadline while held or stopped', () => {
    assert.equal(msToStop(idle({ deadline: null, state: 'held' }), 0), null);
    assert.equal(msToStop(idle(), Date.parse('2026-01-01T00:29:00.000Z')), 60_000);
  });

  it('sends heartbeats often enough for short timeouts, at most every 30 s', () => {
    assert.equal(heartbeatIntervalMs(idle()), 30_000);
    assert.equal(heartbeatIntervalMs(idle({ timeout_minutes: 0.1 })), 1500);
    assert.equal(heartbeatIntervalMs(idle({ timeout_minutes: 0.001 })), 1000);
  });
});

describe('the keep-awake details', () => {
  it('lists each lease with its pid, age and time to the cap', () => {
    const now = Date.parse('2026-01-01T02:00:00.000Z');
    const text = describeLeases(
      idle({
        state: 'held',
        deadline: null,
        leases: [{ id: 'a', label: 'training', pid: 4242, started_at: '2026-01-01T00:55:00.000Z', last_heartbeat: '2026-01-01T02:00:00.000Z', ends_at: '2026-01-01T12:55:00.000Z' }]
      }),
      trans,
      now
    );
    assert.equal(text, 'training — pid 4242, running for 1 h 5 min, ends in 10 h 55 min at the latest');
  });

  it('without leases, says how to hold the workspace awake', () => {
    assert.match(describeLeases(idle(), trans, 0), /30 min.*keep_awake/);
    assert.equal(formatDuration(40_000), '40 s');
  });
});
