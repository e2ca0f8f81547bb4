import type { ResetOutcome, ResetPhase, ResetRecord, ResetTemplateSource } from '@jupyterlab-gpu-workspace/api';
import { RESET_PHASES } from '@jupyterlab-gpu-workspace/api';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * What a reset wrote down before each step that changes the home, so that a
 * sidecar killed at any moment can be finished or rolled back at the next
 * start. One reset at a time: the journal holds the latest one.
 */
export interface ResetJournalEntry {
  version: 1;
  id: string;
  phase: ResetPhase;
  outcome: ResetOutcome | null;
  recovered: 'rolled-back' | 'finished' | null;
  snapshot_id: string | null;
  template: ResetTemplateSource;
  /** The folder the clean copy was made from (to make it again if a crash lost the staged copy). */
  template_dir: string;
  home: string;
  /** The reset's own folder: `staged` and `aside` lie in it; removed once the reset is over. */
  work_dir: string;
  /** The staged clean copy, given to the notebook user, whose entries are moved into the home. */
  staged: string;
  /** Where the home's old entries wait while the new ones move in (one filesystem only). */
  aside: string;
  /**
   * One filesystem: the swap is renames and can be rolled back until the clean
   * copy is complete. Another filesystem: the old entries are deleted (the
   * pre-reset snapshot holds them) and the copy is finished instead.
   */
  same_filesystem: boolean;
  /** Names in the home left as they are (home.exclude at the top level: caches). */
  kept: string[];
  /** The post-reset hook: `rerunning` once a start found it unfinished and runs it again (only once). */
  hook: 'none' | 'pending' | 'rerunning' | 'succeeded' | 'failed';
  hook_run: string | null;
  started_at: string;
  finished_at: string | null;
  message: string | null;
}

export const JOURNAL_FILE = 'journal.json';

/**
 * The journal file, written atomically: a temporary file is written and
 * flushed, renamed over the journal, and the folder flushed, so a crash (even
 * of the machine) leaves either the old journal or the new one.
 */
export class ResetJournal {
  readonly file: string;

  constructor(readonly dir: string) {
    this.file = path.join(dir, JOURNAL_FILE);
  }

  read(): ResetJournalEntry | null {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch {
      return null;
    }
    const entry = JSON.parse(text) as ResetJournalEntry;
    if (entry.version !== 1 || !(RESET_PHASES as readonly string[]).includes(entry.phase)) {
      throw new Error(`The reset journal ${this.file} is not one this version can read.`);
    }
    return entry;
  }

  write(entry: ResetJournalEntry): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    const fd = fs.openSync(tmp, 'w', 0o600);
    try {
      fs.writeSync(fd, JSON.stringify(entry, null, 2) + '\n');
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.file);
    syncDir(this.dir);
  }

  /** Writes the entry with these fields changed, and returns it. */
  update(entry: ResetJournalEntry, change: Partial<ResetJournalEntry>): ResetJournalEntry {
    const next = { ...entry, ...change };
    this.write(next);
    return next;
  }
}

/** Flushes a folder's entries (renames into and out of it) to the disk. */
export function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** The journal as the API shows it. */
export function recordOf(entry: ResetJournalEntry): ResetRecord {
  return {
    id: entry.id,
    phase: entry.phase,
    outcome: entry.outcome,
    recovered: entry.recovered,
    snapshot_id: entry.snapshot_id,
    template: entry.template,
    started_at: entry.started_at,
    finished_at: entry.finished_at,
    message: entry.message,
    hook_run: entry.hook_run
  };
}
