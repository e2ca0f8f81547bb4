/** What the snapshot engine's tests share: a policy with test defaults, and the check that the engine still works after a failure. */
import assert from 'node:assert/strict';
import { SnapshotPolicy, SnapshotService } from '../../src/snapshots/service';

/** A 3 GB cap, no schedule, no pruning, the restic on PATH; `over` sets the rest. */
export function testPolicy(over: Partial<SnapshotPolicy> = {}): SnapshotPolicy {
  return {
    cap_bytes: 3e9,
    exclude: ['.cache'],
    restic: 'restic',
    schedule_minutes: 0,
    keep_last: 0,
    keep_daily: 0,
    keep_weekly: 0,
    restore_empty_home: false,
    ...over
  };
}

/** The next snapshot is taken and the repository checks clean (after a stopped, killed or refused restic). */
export async function assertSnapshotsWork(s: SnapshotService): Promise<void> {
  const next = await s.create('manual');
  assert.ok(next.id);
  const check = await s.check();
  assert.ok(check.ok, check.output);
}
