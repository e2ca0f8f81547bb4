import * as fs from 'node:fs';
import * as path from 'node:path';

/** What restic's backup summary said of one snapshot; restic 0.14 does not keep it in the repository. */
export interface SnapshotSummary {
  /** Bytes of the home that the snapshot holds. */
  size_bytes: number;
  files_new: number;
  files_changed: number;
  files_unmodified: number;
  /** New data the snapshot added to the repository. */
  added_bytes: number;
  duration_seconds: number;
}

/**
 * The summaries, one JSON file beside the repository, written atomically
 * (temporary file then rename) so a crash never leaves half a file. Snapshots
 * without one (taken by a bare restic, or before this file existed) are still
 * listed, only without size and changes.
 */
export class SummaryStore {
  private cache: Record<string, SnapshotSummary> | null = null;

  constructor(private readonly file: string) {}

  all(): Record<string, SnapshotSummary> {
    if (!this.cache) {
      try {
        this.cache = JSON.parse(fs.readFileSync(this.file, 'utf8')) as Record<string, SnapshotSummary>;
      } catch {
        this.cache = {};
      }
    }
    return this.cache;
  }

  get(id: string): SnapshotSummary | null {
    return this.all()[id] ?? null;
  }

  put(id: string, summary: SnapshotSummary): void {
    this.write({ ...this.all(), [id]: summary });
  }

  /** Drops the summaries of snapshots that no longer exist (after retention). */
  keepOnly(ids: Set<string>): void {
    const kept = Object.fromEntries(Object.entries(this.all()).filter(([id]) => ids.has(id)));
    this.write(kept);
  }

  private write(data: Record<string, SnapshotSummary>): void {
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    fs.writeFileSync(tmp, JSON.stringify(data), { mode: 0o600 });
    fs.renameSync(tmp, this.file);
    this.cache = data;
  }
}
