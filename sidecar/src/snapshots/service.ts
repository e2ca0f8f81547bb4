import type {
  HomeUsageResponse,
  TrashEmptied,
  SnapshotActivity,
  SnapshotFileEntry,
  SnapshotInfo,
  SnapshotTrigger
} from '@jupyterlab-gpu-workspace/api';
import { formatBytes, SNAPSHOT_TRIGGERS } from '@jupyterlab-gpu-workspace/api';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ResticTimeouts, WorkspaceConfig } from '../config/schema';
import { badRequest, notFound, snapshotsUnavailable, WorkspaceError } from '../errors';
import { RunAs } from '../jupyter/launch';
import { Logger } from '../log';
import { HomeScan, homeTotal, scanHome, TRASH_PATH } from './homeScan';
import { helperFailure, runHelper } from '../jupyter/helperProcess';
import { UserFiles } from './homeFiles';
import { parseHomePath } from './homePaths';
import { HomeSnapshotter, SnapshotOutcome } from './port';
import { SerialQueue } from './queue';
import { openRepository, RepoLayout, RepositoryError, repoLayout } from './repository';
import { ResticError, ResticProgress, ResticResult, runRestic, RunOptions } from './restic';
import { RestoreStaging } from './restore';
import { SummaryStore } from './summaries';

/** Every snapshot of a workspace carries this host name, so each finds its parent whatever the machine is called. */
export const SNAPSHOT_HOST = 'gpu-workspace';

export interface SnapshotPolicy {
  cap_bytes: number;
  exclude: string[];
  restic: string;
  schedule_minutes: number;
  keep_last: number;
  keep_daily: number;
  keep_weekly: number;
  restore_empty_home: boolean;
  before_gpu_switch?: boolean;
  /** Deleted files go to a Trash in the home (home.trash), which then counts and is shown. */
  trash?: boolean;
  /** Deadlines of restic commands (snapshots.command_timeout_seconds); defaults below where unset. */
  command_timeout_seconds?: Partial<ResticTimeouts>;
  /** A backup whose progress has not moved for this long is stopped (0: never). */
  stall_timeout_seconds?: number;
  /** How long restic has after SIGINT before SIGKILL. */
  stop_grace_seconds?: number;
}

/** The config schema's defaults, for policies built without the config (the CLI's and tests'). */
export const DEFAULT_TIMEOUTS: ResticTimeouts & { stall: number; grace: number } = {
  backup: 7200,
  restore: 7200,
  check: 3600,
  prune: 3600,
  other: 600,
  stall: 300,
  grace: 15
};

/** Which deadline a restic command runs under. */
export type ResticKind = keyof ResticTimeouts;

/** The snapshot policy from the operator config. */
export function snapshotPolicy(config: WorkspaceConfig): SnapshotPolicy {
  return { cap_bytes: config.home.cap_bytes, exclude: config.home.exclude, trash: config.home.trash, ...config.snapshots };
}

/** A measurement of the home's size: what it held, read between `at` and `until` (ms since the epoch). */
export interface HomeMeasurement {
  bytes: number;
  at: number;
  until: number;
}

export interface SnapshotServiceOptions {
  home: string;
  stateDir: string;
  policy: SnapshotPolicy;
  /** The notebook user restored files are given to; null: the sidecar's own user. */
  runAs: RunAs | null;
  log: Logger;
  /** Create the repository when missing (the sidecar does; the CLI does not). */
  create?: boolean;
}

/**
 * restic's change detection compares inode, ctime, mtime and size. A restore
 * (or a copy of the home to another machine) gives every file a new inode
 * and ctime, so without these flags the next snapshot reads the whole home
 * again. Content changes still show in mtime or size; only a change that
 * keeps both and is forged with `touch -d` goes unseen until the file next
 * changes. `npm run bench:snapshots` shows the difference.
 */
export const CHANGE_DETECTION_FLAGS = ['--ignore-inode', '--ignore-ctime'];

interface ResticSnapshot {
  id: string;
  short_id: string;
  time: string;
  tags?: string[];
  paths: string[];
}

interface ResticNode {
  struct_type?: string;
  name: string;
  type: string;
  path: string;
  size?: number;
  mtime?: string;
}

function triggerOf(tags: string[] | undefined): SnapshotTrigger {
  const found = (tags ?? []).find(t => (SNAPSHOT_TRIGGERS as readonly string[]).includes(t));
  return (found as SnapshotTrigger | undefined) ?? 'manual';
}

/** What uses the space, for a message: the largest three, and the Trash where it counts and holds something. */
export function spaceHint(scan: HomeScan, trashCounts: boolean): string {
  const top = scan.largest
    .slice(0, 3)
    .map(l => `${l.path} (${formatBytes(l.bytes)})`)
    .join(', ');
  const trash = trashCounts && scan.trash_bytes > 0 ? ` Deleted files in the Trash hold ${formatBytes(scan.trash_bytes)}: Workspace → Snapshots… empties it.` : '';
  return `${top ? `The largest are ${top}.` : ''}${trash}`;
}

/** The home is over its cap: the snapshot is refused, with what uses the space. */
export class OverCapError extends WorkspaceError {
  constructor(scan: HomeScan, cap: number, trashCounts = false) {
    const hint = spaceHint(scan, trashCounts);
    super(
      409,
      `The home folder holds ${formatBytes(scan.used_bytes)}, over its ${formatBytes(cap)} cap, so no snapshot was taken. ` +
        `Delete or move large files first (Workspace → Snapshots… shows what uses the space).${hint ? ` ${hint}` : ''}`,
      'over_cap',
      { used_bytes: scan.used_bytes, cap_bytes: cap, largest: scan.largest }
    );
  }
}

/** Room a snapshot needs beyond the home's size: restic's indexes, trees and pack headers. */
const REPOSITORY_OVERHEAD_BYTES = 8 * 1024 * 1024;

/**
 * The snapshot engine: restic snapshots of the home folder into a repository
 * in the state directory, the cap checked first, restores through a staging
 * folder, and every operation one at a time through one queue.
 *
 * Nothing here reads or writes the home as root. restic (backup and restore)
 * and du run as the notebook user; restores land in a staging folder in the
 * root-only state directory and are moved into the home by a helper run as
 * the user (homeFiles.ts). Every restic command has a deadline; a backup
 * whose progress stalls, or that reports a full disk, is stopped at once.
 */
export class SnapshotService implements HomeSnapshotter {
  readonly home: string;
  private readonly repo: RepoLayout;
  private readonly userFiles: UserFiles;
  /** Staging and placing restored files (public for the tests that race a placement against the user). */
  readonly restores: RestoreStaging;
  private readonly queue = new SerialQueue();
  private readonly summaries: SummaryStore;
  private unavailable: string | null = 'Snapshots are starting.';
  private activity: Omit<SnapshotActivity, 'waiting'> | null = null;
  private total: HomeMeasurement | null = null;
  private totaling: Promise<void> | null = null;
  private scanning: Promise<HomeScan> | null = null;
  /** The last full measurement (largest entries, the Trash). */
  private lastScan: HomeScan | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly abort = new AbortController();
  private opening: Promise<void> = Promise.resolve();

  constructor(private readonly options: SnapshotServiceOptions) {
    this.home = path.resolve(options.home);
    this.repo = repoLayout(options.stateDir, options.policy.restic, options.runAs);
    // Restores move from the staging area into the home: helpers start there.
    this.userFiles = new UserFiles(options.runAs, this.repo.stagingDir, this.timeoutMs('restore'));
    this.restores = new RestoreStaging({
      home: this.home,
      stagingDir: this.repo.stagingDir,
      runAs: options.runAs,
      userFiles: this.userFiles,
      log: options.log,
      restore: async (args, fds) => {
        try {
          await this.restic('restore', args, { onProgress: this.onProgress, fds });
        } catch (err) {
          throw this.resticFailure(err, 'The restore', 'restore');
        }
      }
    });
    this.summaries = new SummaryStore(path.join(this.repo.root, 'summaries.json'));
  }

  get policy(): SnapshotPolicy {
    return this.options.policy;
  }

  /** The notebook user restored files are given to (and the home zip is read as); null: the sidecar's own user. */
  get runAs(): RunAs | null {
    return this.options.runAs;
  }

  /** Why snapshots cannot be used, or null when they can. */
  get reason(): string | null {
    return this.unavailable;
  }

  /**
   * Opens the repository (clearing stale locks), forgets any staging a killed
   * sidecar left, and restores the latest snapshot into an empty home. A
   * repository that cannot be opened does not stop the workspace: snapshots
   * are then unavailable, with the reason, and the log says it loudly.
   *
   * With `background`, the repository is opened while the caller goes on
   * (restic's key derivation takes a second or more, which Jupyter's start
   * need not wait for); every operation waits for it. Only when an empty home
   * is to get the latest snapshot back does this wait, so that nobody writes
   * into the home first.
   */
  async init(options: { background?: boolean } = {}): Promise<void> {
    // The home's own top level, listed by its fixed path (no name in it is followed).
    const restoreWanted = this.options.policy.restore_empty_home && fs.existsSync(path.join(this.repo.repository, 'config')) && fs.readdirSync(this.home).length === 0;
    this.opening = this.open();
    if (!options.background || restoreWanted) {
      await this.opening;
    }
    if (restoreWanted && this.unavailable === null) {
      const latest = (await this.list())[0];
      if (latest) {
        this.options.log.info('home is empty: restoring the latest snapshot', { id: latest.id });
        await this.queue.run(() => this.track('restore', null, async () => this.restores.restoreWhole(await this.find(latest.id), this.excludes())));
      }
    }
  }

  /** Resolves once the repository is open (or known to be unusable: see `reason`). */
  whenReady(): Promise<void> {
    return this.opening;
  }

  private async open(): Promise<void> {
    try {
      await openRepository(this.repo, { create: this.options.create ?? true, run: this.runOptions('other') });
      this.unavailable = null;
    } catch (err) {
      this.unavailable = err instanceof RepositoryError ? err.message : `Snapshots are unavailable: ${(err as Error).message}`;
      this.options.log.error('snapshots unavailable', { reason: this.unavailable });
      return;
    }
    if (this.options.create ?? true) {
      fs.writeFileSync(this.repo.homeFile, this.home + '\n', { mode: 0o600 });
      await this.clearStaging();
    }
  }

  /**
   * Removes what a killed sidecar left in the staging area, as the user (the
   * trees are the user's), and the staging folder of versions before the
   * staging area had one of its own (inside the snapshot folder).
   */
  private async clearStaging(): Promise<void> {
    const left = fs.readdirSync(this.repo.stagingDir).map(name => path.join(this.repo.stagingDir, name));
    left.push(path.join(this.repo.root, 'staging'));
    for (const dir of left) {
      await this.userFiles.removeFolder(dir).catch(err => this.options.log.warn('could not clear a restore staging folder', { dir, error: (err as Error).message }));
    }
  }

  /** Takes scheduled snapshots every `schedule_minutes` (0: never). */
  startSchedule(): void {
    const minutes = this.options.policy.schedule_minutes;
    if (minutes > 0 && !this.timer) {
      this.timer = setInterval(() => {
        void this.snapshotFor('schedule').then(outcome => {
          if (!outcome.taken) {
            this.options.log.warn('scheduled snapshot not taken', { reason: outcome.reason });
          }
        });
      }, minutes * 60_000);
      this.timer.unref();
    }
  }

  stopSchedule(): void {
    if (this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** Stops the schedule and interrupts restic (SIGINT) if it runs. */
  stop(): void {
    this.stopped = true;
    this.stopSchedule();
    this.abort.abort();
  }

  activityNow(): SnapshotActivity | null {
    return this.activity ? { ...this.activity, waiting: Math.max(0, this.queue.length - 1) } : null;
  }

  /** Waits for the repository to be open, then refuses if snapshots cannot be used. */
  private async ready(): Promise<void> {
    await this.opening;
    this.requireAvailable();
  }

  private requireAvailable(): void {
    if (this.unavailable !== null) {
      throw snapshotsUnavailable(this.unavailable);
    }
    if (this.stopped) {
      throw snapshotsUnavailable('The workspace service is shutting down.');
    }
  }

  private async track<T>(operation: SnapshotActivity['operation'], trigger: SnapshotTrigger | null, work: () => Promise<T>): Promise<T> {
    this.activity = { operation, trigger, started_at: new Date().toISOString(), percent: null, bytes_done: null, total_bytes: null };
    try {
      return await work();
    } finally {
      this.activity = null;
    }
  }

  private onProgress = (p: ResticProgress): void => {
    if (this.activity) {
      this.activity.percent = p.percent_done ?? this.activity.percent;
      this.activity.bytes_done = p.bytes_done ?? this.activity.bytes_done;
      this.activity.total_bytes = p.total_bytes ?? this.activity.total_bytes;
    }
  };

  // ---- restic, with deadlines -----------------------------------------------

  private timeoutMs(kind: ResticKind): number {
    return (this.options.policy.command_timeout_seconds?.[kind] ?? DEFAULT_TIMEOUTS[kind]) * 1000;
  }

  private runOptions(kind: ResticKind): RunOptions {
    const stall = this.options.policy.stall_timeout_seconds ?? DEFAULT_TIMEOUTS.stall;
    return {
      deadlineMs: this.timeoutMs(kind),
      // Only backup reports progress as it goes (restic 0.14's restore, check and prune print nothing until the end).
      stallMs: kind === 'backup' && stall > 0 ? stall * 1000 : undefined,
      graceMs: (this.options.policy.stop_grace_seconds ?? DEFAULT_TIMEOUTS.grace) * 1000,
      signal: this.abort.signal
    };
  }

  /**
   * One restic command under its deadline. A restic the sidecar had to stop
   * may have left its lock (SIGKILL gives it no chance to remove it): the
   * lock is cleared at once (`restic unlock` removes only locks whose process
   * is gone), so the next operation in the queue finds the repository free.
   */
  private async restic(kind: ResticKind, args: string[], extra: Partial<RunOptions> = {}): Promise<ResticResult> {
    try {
      return await runRestic(this.repo, args, { ...this.runOptions(kind), ...extra });
    } catch (err) {
      if (err instanceof ResticError && err.stopped !== null) {
        this.options.log.warn('restic stopped', { command: args[0], why: err.stopped, killed: err.killed, message: err.message });
      }
      // Interrupted for a shutdown, restic removes its own lock, unless it had to be killed.
      if (err instanceof ResticError && err.stopped !== null && (err.killed || err.stopped !== 'aborted')) {
        try {
          await runRestic(this.repo, ['unlock'], { ...this.runOptions('other'), signal: undefined });
        } catch (again) {
          this.options.log.warn('restic unlock after a stop failed', { error: (again as Error).message });
        }
      }
      throw err;
    }
  }

  /** restic failures become messages for the user; a full disk, a hang, a deadline and a lock are named as such. */
  private resticFailure(err: unknown, what: string, kind: ResticKind): WorkspaceError {
    if (err instanceof WorkspaceError) {
      return err;
    }
    if (err instanceof ResticError) {
      if (err.noSpace) {
        return snapshotsUnavailable(`${what} failed: the disk holding the snapshot repository is full.`);
      }
      switch (err.stopped) {
        case 'deadline':
          return snapshotsUnavailable(`${what} failed: ${err.message} (snapshots.command_timeout_seconds.${kind}).`);
        case 'stall':
          return snapshotsUnavailable(`${what} failed: ${err.message} (snapshots.stall_timeout_seconds).`);
        case 'aborted':
          return snapshotsUnavailable(`${what} was interrupted: the workspace service is shutting down.`);
        default:
          break;
      }
      if (err.locked) {
        return snapshotsUnavailable(`${what} failed: another program holds the snapshot repository's lock (${err.message}).`);
      }
      if (err.wrongPassword) {
        return snapshotsUnavailable(`${what} failed: the repository password does not open the repository.`);
      }
      return snapshotsUnavailable(`${what} failed: ${err.message}`);
    }
    return snapshotsUnavailable(`${what} failed: ${(err as Error).message}`);
  }

  // ---- the cap -------------------------------------------------------------

  /** Measures the home now (du, as the notebook user); concurrent callers share one scan. */
  /** What uses the space as last measured in full, for messages ("" before the first full measurement). */
  spaceHint(): string {
    return this.lastScan ? spaceHint(this.lastScan, this.options.policy.trash === true) : '';
  }

  scan(): Promise<HomeScan> {
    if (!this.scanning) {
      this.scanning = scanHome(this.home, this.excludes(), this.options.runAs)
        .then(scan => {
          this.total = { bytes: scan.used_bytes, at: scan.scanned_at_ms, until: Date.now() };
          this.lastScan = scan;
          return scan;
        })
        .finally(() => {
          this.scanning = null;
        });
    }
    return this.scanning;
  }

  /**
   * The home's size as last measured, and when that measurement ran,
   * refreshed in the background (du -sb, the total only) when older than
   * `maxAgeMs`: the upload guard's hot path never waits for a scan. Null
   * before the first measurement.
   */
  recentUsage(maxAgeMs: number): HomeMeasurement | null {
    if (!this.total || Date.now() - this.total.at > maxAgeMs) {
      if (!this.totaling) {
        const startedAt = Date.now();
        this.totaling = homeTotal(this.home, this.excludes(), this.options.runAs)
          .then(bytes => {
            this.total = { bytes, at: startedAt, until: Date.now() };
          })
          .catch(() => undefined)
          .finally(() => {
            this.totaling = null;
          });
      }
    }
    return this.total;
  }

  private excludes(): string[] {
    return this.options.policy.exclude;
  }

  // ---- snapshots -----------------------------------------------------------

  /** For other capabilities: never throws, says why when no snapshot was taken. */
  async snapshotFor(trigger: SnapshotTrigger): Promise<SnapshotOutcome> {
    try {
      const info = await this.create(trigger);
      return { taken: true, id: info.id };
    } catch (err) {
      return { taken: false, reason: (err as Error).message };
    }
  }

  /** Takes a snapshot, waiting for any operation under way; over the cap it is refused with what uses the space. */
  async create(trigger: SnapshotTrigger, extraTags: string[] = []): Promise<SnapshotInfo> {
    await this.ready();
    return await this.queue.run(() => this.track('snapshot', trigger, () => this.backup(trigger, extraTags)));
  }

  /**
   * Refuses a snapshot that may not fit: restic 0.14 meets a full disk with
   * retries and back-off rather than an error, so it is checked first. The
   * worst case is that every file changed, so the repository's disk must
   * have room for the whole home (as the cap check measured it).
   */
  private checkFreeSpace(used: number): void {
    let free: number;
    try {
      const { bavail, bsize } = fs.statfsSync(this.repo.repository);
      free = Number(bavail) * Number(bsize);
    } catch {
      return;
    }
    if (free < used + REPOSITORY_OVERHEAD_BYTES) {
      throw snapshotsUnavailable(
        `The snapshot was not taken: the disk holding the snapshot repository is full (${formatBytes(free)} free, and a snapshot of this ` +
          `${formatBytes(used)} home may need as much). Delete files from the home, or ask the operator to free space on the repository's disk.`
      );
    }
  }

  private async backup(trigger: SnapshotTrigger, extraTags: string[]): Promise<SnapshotInfo> {
    this.requireAvailable();
    const cap = this.options.policy.cap_bytes;
    // The total alone is as fast as du -sb; the largest entries are looked for only when refusing.
    const measuredAt = Date.now();
    const used = await homeTotal(this.home, this.excludes(), this.options.runAs);
    if (used > cap) {
      const scan = await this.scan();
      if (scan.used_bytes > cap) {
        throw new OverCapError(scan, cap, this.options.policy.trash === true);
      }
    }
    this.total = { bytes: used, at: measuredAt, until: Date.now() };
    this.checkFreeSpace(used);
    const args = [
      'backup',
      '--host',
      SNAPSHOT_HOST,
      '--tag',
      [trigger, ...extraTags].join(','),
      ...CHANGE_DETECTION_FLAGS,
      '--one-file-system',
      ...this.excludes().flatMap(p => ['--exclude', p]),
      this.home
    ];
    const startedAt = new Date();
    let result;
    try {
      result = await this.restic('backup', args, { onProgress: this.onProgress });
    } catch (err) {
      throw this.resticFailure(err, 'The snapshot', 'backup');
    }
    const summary = result.messages.find(m => (m as { message_type?: string }).message_type === 'summary') as
      | { snapshot_id: string; files_new: number; files_changed: number; files_unmodified: number; data_added: number; total_bytes_processed: number; total_duration: number }
      | undefined;
    if (!summary) {
      throw snapshotsUnavailable('The snapshot finished without a summary from restic.');
    }
    const stored = {
      size_bytes: summary.total_bytes_processed,
      files_new: summary.files_new,
      files_changed: summary.files_changed,
      files_unmodified: summary.files_unmodified,
      added_bytes: summary.data_added,
      duration_seconds: summary.total_duration
    };
    this.summaries.put(summary.snapshot_id, stored);
    this.options.log.info('snapshot taken', { id: summary.snapshot_id, trigger, seconds: summary.total_duration });
    if (result.code === 3) {
      // Saved, but incomplete: what restic (as the user) could not read is not in it.
      const skipped = result.unreadable.map(p => path.relative(this.home, p) || '.');
      this.options.log.warn(
        `snapshot ${summary.snapshot_id} was saved without ${skipped.length} entr${skipped.length === 1 ? 'y' : 'ies'} that could not be read` +
          `${this.options.runAs ? ` as ${this.options.runAs.user.name}` : ''}: ${skipped.slice(0, 10).join(', ')}${skipped.length > 10 ? ', …' : ''}`,
        { id: summary.snapshot_id, skipped: skipped.slice(0, 100) }
      );
    }
    await this.applyRetention();
    // Built here rather than listed again (a listing costs restic a repository open): restic stamps the
    // snapshot with the time its backup started, within milliseconds of `startedAt`.
    return {
      id: summary.snapshot_id,
      time: startedAt.toISOString(),
      trigger,
      size_bytes: stored.size_bytes,
      changes: stored.files_new + stored.files_changed,
      files_new: stored.files_new,
      files_changed: stored.files_changed,
      added_bytes: stored.added_bytes
    };
  }

  /** Keeps the last N, one a day and one a week, as the operator says; prunes what is forgotten. */
  private async applyRetention(): Promise<void> {
    const { keep_last, keep_daily, keep_weekly } = this.options.policy;
    if (keep_last === 0 && keep_daily === 0 && keep_weekly === 0) {
      return;
    }
    const count = (await this.resticSnapshots()).length;
    if (count <= keep_last) {
      return;
    }
    const args = ['forget', '--prune', '--host', SNAPSHOT_HOST, '--group-by', 'host'];
    if (keep_last) args.push('--keep-last', String(keep_last));
    if (keep_daily) args.push('--keep-daily', String(keep_daily));
    if (keep_weekly) args.push('--keep-weekly', String(keep_weekly));
    try {
      await this.restic('prune', args);
      this.summaries.keepOnly(new Set((await this.resticSnapshots()).map(s => s.short_id)));
    } catch (err) {
      // A failed prune loses nothing; the next snapshot tries again.
      this.options.log.warn('retention failed', { error: (err as Error).message });
    }
  }

  private async resticSnapshots(): Promise<ResticSnapshot[]> {
    try {
      const { messages } = await this.restic('other', ['snapshots', '--host', SNAPSHOT_HOST], { keepMessages: true });
      return (messages[0] as ResticSnapshot[] | undefined) ?? [];
    } catch (err) {
      throw this.resticFailure(err, 'Listing the snapshots', 'other');
    }
  }

  /** Every snapshot, newest first. Reading needs no queue: restic's shared lock lets it run beside a backup. */
  async list(): Promise<SnapshotInfo[]> {
    await this.ready();
    const snapshots = await this.resticSnapshots();
    return snapshots
      .map(s => {
        const sum = this.summaries.get(s.short_id);
        return {
          id: s.short_id,
          time: s.time,
          trigger: triggerOf(s.tags),
          size_bytes: sum?.size_bytes ?? null,
          changes: sum ? sum.files_new + sum.files_changed : null,
          files_new: sum?.files_new ?? null,
          files_changed: sum?.files_changed ?? null,
          added_bytes: sum?.added_bytes ?? null
        };
      })
      .sort((a, b) => Date.parse(b.time) - Date.parse(a.time));
  }

  /** The snapshot with this id (short or full), or 404. */
  private async find(id: unknown): Promise<ResticSnapshot> {
    if (typeof id !== 'string' || !/^[0-9a-f]{8,64}$/.test(id)) {
      throw notFound(`No snapshot "${String(id)}": snapshot ids are 8 to 64 hex digits.`);
    }
    const found = (await this.resticSnapshots()).find(s => s.id.startsWith(id));
    if (!found) {
      throw notFound(`No snapshot ${id} in this workspace.`);
    }
    return found;
  }

  /** One folder of a snapshot ("" is the home itself). */
  async files(id: string, rawPath: unknown): Promise<SnapshotFileEntry[]> {
    await this.ready();
    const rel = parseHomePath(rawPath ?? '', { allowRoot: true });
    const snap = await this.find(id);
    const base = snap.paths[0];
    const dir = rel ? path.posix.join(base, rel) : base;
    let messages: unknown[];
    try {
      ({ messages } = await this.restic('other', ['ls', snap.id, dir], { keepMessages: true }));
    } catch (err) {
      throw this.resticFailure(err, 'Reading the snapshot', 'other');
    }
    const nodes = messages.filter(m => (m as ResticNode).struct_type === 'node') as ResticNode[];
    const self = nodes.find(n => n.path === dir);
    if (rel && !self) {
      throw notFound(`"${rel}" is not in snapshot ${id}.`);
    }
    if (self && self.type !== 'dir') {
      throw badRequest(`"${rel}" is a file, not a folder.`);
    }
    return nodes
      .filter(n => path.posix.dirname(n.path) === dir && n.path !== dir)
      .map(n => ({
        name: n.name,
        path: path.posix.relative(base, n.path),
        type: n.type === 'file' || n.type === 'dir' || n.type === 'symlink' ? n.type : 'other',
        size: n.type === 'file' ? (n.size ?? 0) : null,
        mtime: n.mtime ?? null
      }));
  }

  // ---- restores ------------------------------------------------------------

  /** Restores one file or folder; never over an existing one. */
  async restore(id: string, rawPath: unknown): Promise<{ restored_to: string }> {
    await this.ready();
    const rel = parseHomePath(rawPath);
    await this.restores.checkPath(rel);
    return await this.queue.run(() =>
      this.track('restore', null, async () => ({ restored_to: await this.restores.restoreOne(await this.find(id), rel) }))
    );
  }

  /**
   * Replaces the home's contents with a snapshot's, after a fresh snapshot of
   * the present so that the restore can be undone. Excluded names (caches)
   * stay as they are.
   */
  async restoreHome(id: string): Promise<{ undo_snapshot: string }> {
    await this.ready();
    return await this.queue.run(async () => {
      await this.find(id);
      const undo = await this.track('snapshot', 'manual', () => this.backup('manual', ['before-restore']));
      await this.track('restore', null, async () => this.restores.restoreWhole(await this.find(id), this.excludes()));
      return { undo_snapshot: undo.id };
    });
  }

  // ---- operator ------------------------------------------------------------

  /** `restic check`: true when the repository is healthy; the output says what is wrong otherwise. */
  async check(): Promise<{ ok: boolean; output: string }> {
    await this.ready();
    return await this.queue.run(() =>
      this.track('check', null, async () => {
        try {
          const r = await this.restic('check', ['check']);
          return { ok: true, output: r.stdout + r.stderr };
        } catch (err) {
          if (err instanceof ResticError && err.stopped === null) {
            return { ok: false, output: err.result.stdout + err.result.stderr };
          }
          throw this.resticFailure(err, 'The repository check', 'check');
        }
      })
    );
  }

  /** The cap's numbers for the API. */
  usage(scan: HomeScan): HomeUsageResponse {
    return {
      used_bytes: scan.used_bytes,
      cap_bytes: this.options.policy.cap_bytes,
      largest: scan.largest,
      trash: this.options.policy.trash ? { path: TRASH_PATH, bytes: scan.trash_bytes } : null,
      scanned_at: new Date(scan.scanned_at_ms).toISOString()
    };
  }

  /**
   * Empties the Trash (home.trash): its files and their records go for good,
   * deleted as the notebook user (a link in it leads nowhere the user could
   * not delete anyway). Answers what it freed and the home's usage after.
   */
  async emptyTrash(): Promise<TrashEmptied> {
    if (!this.options.policy.trash) {
      throw notFound('There is no Trash here: deleting a file in JupyterLab deletes it (home.trash is off).');
    }
    const before = await this.scan();
    const trash = path.join(this.home, TRASH_PATH);
    const result = await runHelper({
      program: 'rm',
      args: ['-rf', '--one-file-system', '--', path.join(trash, 'files'), path.join(trash, 'info'), path.join(trash, 'expunged')],
      runAs: this.options.runAs,
      cwd: '/',
      timeoutMs: 10 * 60_000
    });
    if (result.code !== 0) {
      throw new WorkspaceError(500, `The Trash could not be emptied: ${helperFailure(result, 'rm')}`, 'internal');
    }
    const after = await this.scan();
    return { freed_bytes: Math.max(0, before.trash_bytes - after.trash_bytes), usage: this.usage(after) };
  }
}
