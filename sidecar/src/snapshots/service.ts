import type {
  SnapshotActivity,
  SnapshotFileEntry,
  SnapshotInfo,
  SnapshotTrigger,
  SpaceUser
} from '@jupyterlab-gpu-workspace/api';
import { SNAPSHOT_TRIGGERS } from '@jupyterlab-gpu-workspace/api';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WorkspaceConfig } from '../config/schema';
import { badRequest, notFound, snapshotsUnavailable, WorkspaceError } from '../errors';
import { RunAs } from '../jupyter/launch';
import { Logger } from '../log';
import { HomeScan, homeTotal, scanHome } from './homeScan';
import { copyInAsUser, giveToUser, sameFilesystem } from './homeFiles';
import { parseHomePath, resolveInHome } from './homePaths';
import { HomeSnapshotter, SnapshotOutcome } from './port';
import { SerialQueue } from './queue';
import { openRepository, RepositoryError, repoLayout } from './repository';
import { ResticError, ResticProgress, runRestic } from './restic';
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
}

/** The snapshot policy from the operator config. */
export function snapshotPolicy(config: WorkspaceConfig): SnapshotPolicy {
  return { cap_bytes: config.home.cap_bytes, exclude: config.home.exclude, ...config.snapshots };
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

/** restic include patterns are globs: a file literally named "a[1].txt" must not be read as a pattern. */
function escapeGlob(p: string): string {
  return p.replace(/[\\*?[\]]/g, c => `\\${c}`);
}

/** An exclude pattern (a name glob: *, ?, [abc]) as a regular expression over one name. */
export function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) out += '\\[';
      else {
        out += `[${glob.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else out += c.replace(/[.+^${}()|\\]/g, ch => `\\${ch}`);
  }
  return new RegExp(`^${out}$`);
}

function stamp(d: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}${pad(d.getMinutes())}`;
}

export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

/** The home is over its cap: the snapshot is refused, with what uses the space. */
export class OverCapError extends WorkspaceError {
  constructor(scan: HomeScan, cap: number) {
    const top = scan.largest
      .slice(0, 3)
      .map(l => `${l.path} (${formatBytes(l.bytes)})`)
      .join(', ');
    super(
      409,
      `The home folder holds ${formatBytes(scan.used_bytes)}, over its ${formatBytes(cap)} cap, so no snapshot was taken. ` +
        `Delete or move large files first${top ? `; the largest are ${top}` : ''}.`,
      'over_cap',
      { used_bytes: scan.used_bytes, cap_bytes: cap, largest: scan.largest }
    );
  }
}

/**
 * The snapshot engine: restic snapshots of the home folder into a repository
 * in the state directory, the cap checked first, restores through a staging
 * folder, and every operation one at a time through one queue.
 */
export class SnapshotService implements HomeSnapshotter {
  readonly home: string;
  private readonly repo: ReturnType<typeof repoLayout>;
  private readonly queue = new SerialQueue();
  private readonly summaries: SummaryStore;
  private unavailable: string | null = 'Snapshots are starting.';
  private activity: Omit<SnapshotActivity, 'waiting'> | null = null;
  private total: { bytes: number; at: number } | null = null;
  private totaling: Promise<void> | null = null;
  private scanning: Promise<HomeScan> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly abort = new AbortController();
  private opening: Promise<void> = Promise.resolve();

  constructor(private readonly options: SnapshotServiceOptions) {
    this.home = path.resolve(options.home);
    this.repo = repoLayout(options.stateDir, options.policy.restic);
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
    const restoreWanted = this.options.policy.restore_empty_home && fs.existsSync(path.join(this.repo.repository, 'config')) && fs.readdirSync(this.home).length === 0;
    this.opening = this.open();
    if (!options.background || restoreWanted) {
      await this.opening;
    }
    if (restoreWanted && this.unavailable === null) {
      const latest = (await this.list())[0];
      if (latest) {
        this.options.log.info('home is empty: restoring the latest snapshot', { id: latest.id });
        await this.queue.run(() => this.track('restore', null, () => this.restoreWholeInto(latest.id)));
      }
    }
  }

  /** Resolves once the repository is open (or known to be unusable: see `reason`). */
  whenReady(): Promise<void> {
    return this.opening;
  }

  private async open(): Promise<void> {
    try {
      await openRepository(this.repo, { create: this.options.create ?? true });
      this.unavailable = null;
    } catch (err) {
      this.unavailable = err instanceof RepositoryError ? err.message : `Snapshots are unavailable: ${(err as Error).message}`;
      this.options.log.error('snapshots unavailable', { reason: this.unavailable });
      return;
    }
    if (this.options.create ?? true) {
      fs.writeFileSync(this.repo.homeFile, this.home + '\n', { mode: 0o600 });
      fs.rmSync(this.repo.stagingDir, { recursive: true, force: true });
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

  /** restic failures become messages for the user; a full disk and a lock are named as such. */
  private resticFailure(err: unknown, what: string): WorkspaceError {
    if (err instanceof WorkspaceError) {
      return err;
    }
    if (err instanceof ResticError) {
      if (err.noSpace) {
        return snapshotsUnavailable(`${what} failed: the disk holding the snapshot repository is full.`);
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

  /** Measures the home now; concurrent callers share one scan. */
  scan(): Promise<HomeScan> {
    if (!this.scanning) {
      this.scanning = scanHome(this.home, this.excludes())
        .then(scan => {
          this.total = { bytes: scan.used_bytes, at: scan.scanned_at_ms };
          return scan;
        })
        .finally(() => {
          this.scanning = null;
        });
    }
    return this.scanning;
  }

  /**
   * The home's size as last measured, and when that measurement started,
   * refreshed in the background (du -sb, the total only) when older than
   * `maxAgeMs`: the upload guard's hot path never waits for a scan. Null
   * before the first measurement.
   */
  recentUsage(maxAgeMs: number): { bytes: number; at: number } | null {
    if (!this.total || Date.now() - this.total.at > maxAgeMs) {
      if (!this.totaling) {
        const startedAt = Date.now();
        this.totaling = homeTotal(this.home, this.excludes())
          .then(bytes => {
            this.total = { bytes, at: startedAt };
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

  private async backup(trigger: SnapshotTrigger, extraTags: string[]): Promise<SnapshotInfo> {
    this.requireAvailable();
    const cap = this.options.policy.cap_bytes;
    // The total alone is as fast as du -sb; the largest entries are looked for only when refusing.
    const measuredAt = Date.now();
    const used = await homeTotal(this.home, this.excludes());
    if (used > cap) {
      const scan = await this.scan();
      if (scan.used_bytes > cap) {
        throw new OverCapError(scan, cap);
      }
    }
    this.total = { bytes: used, at: measuredAt };
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
      result = await runRestic(this.repo, args, { onProgress: this.onProgress, signal: this.abort.signal });
    } catch (err) {
      throw this.resticFailure(err, 'The snapshot');
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
      await runRestic(this.repo, args, { signal: this.abort.signal });
      this.summaries.keepOnly(new Set((await this.resticSnapshots()).map(s => s.short_id)));
    } catch (err) {
      // A failed prune loses nothing; the next snapshot tries again.
      this.options.log.warn('retention failed', { error: (err as Error).message });
    }
  }

  private async resticSnapshots(): Promise<ResticSnapshot[]> {
    try {
      const { messages } = await runRestic(this.repo, ['snapshots', '--host', SNAPSHOT_HOST], { keepMessages: true });
      return (messages[0] as ResticSnapshot[] | undefined) ?? [];
    } catch (err) {
      throw this.resticFailure(err, 'Listing the snapshots');
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
      ({ messages } = await runRestic(this.repo, ['ls', snap.id, dir], { keepMessages: true }));
    } catch (err) {
      throw this.resticFailure(err, 'Reading the snapshot');
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

  /** A fresh folder in the staging area, on the state directory's filesystem. */
  private stagingFolder(): string {
    fs.mkdirSync(this.repo.stagingDir, { recursive: true, mode: 0o700 });
    if (this.sameFilesystem()) {
      return fs.mkdtempSync(path.join(this.repo.stagingDir, 'r-'));
    }
    // The home is on another filesystem: restored files are copied in, by the notebook user, so the
    // staging folder must be one that user can read once restic is done (see moveIntoPlace).
    return fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-workspace-restore-'));
  }

  private sameFilesystem(): boolean {
    return sameFilesystem(this.repo.stagingDir, this.home);
  }

  /**
   * Puts a restored file or folder at `target` (known to be free). On one
   * filesystem, a rename: atomic, and nothing is written through the home's
   * links. Across filesystems, a copy run as the notebook user (see homeFiles).
   */
  private moveIntoPlace(staged: string, target: string, staging: string): void {
    if (this.sameFilesystem()) {
      fs.renameSync(staged, target);
      return;
    }
    try {
      copyInAsUser(staged, target, staging, this.options.runAs);
    } catch (err) {
      throw snapshotsUnavailable(`Copying the restored files into the home failed: ${(err as Error).message}`);
    }
  }

  /**
   * Restores into staging and hands back where the snapshot's home lies in it.
   * restic writes only inside the staging folder, which the notebook user
   * cannot reach, so no link in the home can redirect its writes.
   */
  private async stage(snap: ResticSnapshot, rel: string): Promise<{ staging: string; stagedHome: string }> {
    const staging = this.stagingFolder();
    const base = snap.paths[0];
    const args = ['restore', snap.id, '--target', staging];
    if (rel) {
      args.push('--include', escapeGlob(path.posix.join(base, rel)));
    }
    try {
      await runRestic(this.repo, args, { onProgress: this.onProgress, signal: this.abort.signal });
    } catch (err) {
      fs.rmSync(staging, { recursive: true, force: true });
      throw this.resticFailure(err, 'The restore');
    }
    return { staging, stagedHome: path.join(staging, base) };
  }

  /** Gives a restored tree to the notebook user (restic restores the owners recorded, which may be anyone's). */
  private giveToUser(target: string): void {
    giveToUser(target, this.options.runAs);
  }

  /** Creates the missing folders on the way to `abs`, owned by the notebook user. */
  private makeParents(abs: string): void {
    const missing: string[] = [];
    for (let dir = path.dirname(abs); dir !== this.home && !fs.existsSync(dir); dir = path.dirname(dir)) {
      missing.unshift(dir);
    }
    for (const dir of missing) {
      fs.mkdirSync(dir, { mode: 0o755 });
      this.giveToUser(dir);
    }
  }

  /** The path to restore to: its own when free, else "name (restored 2026-01-05 1430).ext" beside it. */
  private freeDestination(abs: string): string {
    const exists = (p: string): boolean => {
      try {
        fs.lstatSync(p);
        return true;
      } catch {
        return false;
      }
    };
    if (!exists(abs)) {
      return abs;
    }
    const dir = path.dirname(abs);
    const ext = path.extname(abs);
    const stem = path.basename(abs, ext);
    const label = stamp(new Date());
    for (let n = 1; ; n++) {
      const candidate = path.join(dir, `${stem} (restored ${label}${n > 1 ? ` ${n}` : ''})${ext}`);
      if (!exists(candidate)) {
        return candidate;
      }
    }
  }

  /** Restores one file or folder; never over an existing one. */
  async restore(id: string, rawPath: unknown): Promise<{ restored_to: string }> {
    await this.ready();
    const rel = parseHomePath(rawPath);
    resolveInHome(this.home, rel);
    return await this.queue.run(() =>
      this.track('restore', null, async () => {
        const snap = await this.find(id);
        const { staging, stagedHome } = await this.stage(snap, rel);
        try {
          const staged = path.join(stagedHome, rel);
          if (!fs.lstatSync(staged, { throwIfNoEntry: false })) {
            throw notFound(`"${rel}" is not in snapshot ${id}.`);
          }
          // Checked again now: the home may have changed while restic ran.
          const wanted = resolveInHome(this.home, rel);
          this.makeParents(wanted);
          const target = this.freeDestination(wanted);
          this.giveToUser(staged);
          this.moveIntoPlace(staged, target, staging);
          const restoredTo = path.relative(this.home, target);
          this.options.log.info('restored', { id: snap.short_id, path: rel, restored_to: restoredTo });
          return { restored_to: restoredTo };
        } finally {
          fs.rmSync(staging, { recursive: true, force: true });
        }
      })
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
      await this.track('restore', null, () => this.restoreWholeInto(id));
      return { undo_snapshot: undo.id };
    });
  }

  private async restoreWholeInto(id: string): Promise<void> {
    const snap = await this.find(id);
    const { staging, stagedHome } = await this.stage(snap, '');
    try {
      const excluded = (name: string): boolean => this.excludes().some(p => globToRegExp(p).test(name));
      // Out of the way first (renames on one filesystem: a moment), then the snapshot's entries in.
      const old = path.join(staging, 'previous');
      fs.mkdirSync(old);
      const same = this.sameFilesystem();
      for (const name of fs.readdirSync(this.home)) {
        if (!excluded(name)) {
          // Across filesystems they are deleted instead: the snapshot taken first holds them.
          if (same) {
            fs.renameSync(path.join(this.home, name), path.join(old, name));
          } else {
            fs.rmSync(path.join(this.home, name), { recursive: true, force: true });
          }
        }
      }
      for (const name of fs.readdirSync(stagedHome)) {
        const target = path.join(this.home, name);
        if (fs.lstatSync(target, { throwIfNoEntry: false })) {
          continue;
        }
        this.giveToUser(path.join(stagedHome, name));
        this.moveIntoPlace(path.join(stagedHome, name), target, staging);
      }
      this.options.log.info('home restored', { id: snap.short_id });
    } finally {
      fs.rmSync(staging, { recursive: true, force: true });
    }
  }

  // ---- operator ------------------------------------------------------------

  /** `restic check`: true when the repository is healthy; the output says what is wrong otherwise. */
  async check(): Promise<{ ok: boolean; output: string }> {
    await this.ready();
    return await this.queue.run(() =>
      this.track('check', null, async () => {
        try {
          const r = await runRestic(this.repo, ['check'], { signal: this.abort.signal });
          return { ok: true, output: r.stdout + r.stderr };
        } catch (err) {
          if (err instanceof ResticError) {
            return { ok: false, output: err.result.stdout + err.result.stderr };
          }
          throw err;
        }
      })
    );
  }

  /** The cap's numbers for the API. */
  usage(scan: HomeScan): { used_bytes: number; cap_bytes: number; largest: SpaceUser[]; scanned_at: string } {
    return { used_bytes: scan.used_bytes, cap_bytes: this.options.policy.cap_bytes, largest: scan.largest, scanned_at: new Date(scan.scanned_at_ms).toISOString() };
  }
}
