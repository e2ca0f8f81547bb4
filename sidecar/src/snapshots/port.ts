import type { SnapshotTrigger } from '@jupyterlab-gpu-workspace/api';

/** What came of a snapshot asked for by another capability (idle stop, keep-awake end, GPU switch, reset, submit). */
export type SnapshotOutcome =
  | { taken: true; id: string }
  /** Not taken, and why, in words for the user (over the cap, no repository, another operation failed…). */
  | { taken: false; reason: string };

/**
 * The one thing other capabilities need of the snapshot engine: "take a
 * snapshot now, tagged with why". They hold it as optional (a workspace may
 * run without snapshots), and never fail their own work because a snapshot
 * could not be taken: they report the reason instead.
 */
export interface HomeSnapshotter {
  snapshotFor(trigger: SnapshotTrigger): Promise<SnapshotOutcome>;
}
