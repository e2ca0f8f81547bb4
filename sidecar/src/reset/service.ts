import type {
  ResetResponse,
  ResetStatusResponse,
  ResetStep,
  ResetTemplateSource,
  ResetTimings,
  ResetUndoResponse,
  SnapshotInfo
} from '@jupyterlab-gpu-workspace/api';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { WorkspaceConfig } from '../config/schema';
import { badRequest, busy, hookFailed, notFound, snapshotsUnavailable, StartupError, stopping, WorkspaceError } from '../errors';
import { HookResult, HookRunner } from '../hooks/port';
import { describeEnd, failureOf } from '../hooks/runner';
import { RunAs } from '../jupyter/launch';
import { Logger } from '../log';
import { homeTotal } from '../snapshots/homeScan';
import { sameFilesystem, UserFiles } from '../snapshots/homeFiles';
import { HomeSnapshotter } from '../snapshots/port';
import { prepareWorkArea } from '../state/privateDir';
import { recordOf, ResetJournal, ResetJournalEntry } from './journal';
import { makeWorkDir, recover, removeWork, stageTemplate, swapIn, SwapContext } from './swap';
import { excludedBy, takeFirstStartTemplate } from './template';

export interface ResetPolicy {
  /** The operator's clean home; unset: the home as it was at the first start. */
  template_dir?: string;
  /** argv of the post-reset hook; empty: none. */
  post_reset_hook: string[];
  hook_timeout_seconds: number;
  /** home.exclude: caches that stay as they are and are not part of the first-start template. */
  exclude: string[];
}

/** The reset policy from the operator config. */
export function resetPolicy(config: WorkspaceConfig): ResetPolicy {
  return { ...config.reset, exclude: config.home.exclude };
}

/** What a reset needs of the Jupyter supervisor. */
export interface ResetSupervisor {
  readonly isBusy: boolean;
  readonly isShuttingDown: boolean;
  whileStopped<T>(reason: string, work: () => Promise<T>): Promise<T>;
}

/** What an undo needs of the snapshot engine: its snapshots, and a whole-home restore. */
export interface HomeRestorer {
  /** Why snapshots cannot be used; read after whenReady() (the repository opens in the background). */
  readonly reason: string | null;
  whenReady(): Promise<void>;
  list(): Promise<SnapshotInfo[]>;
  restoreHome(id: string): Promise<{ undo_snapshot: string }>;
}

export interface ResetServiceOptions {
  home: string;
  stateDir: string;
  policy: ResetPolicy;
  /** The notebook user the clean copy is given to; null: the sidecar's own user. */
  runAs: RunAs | null;
  /**
   * Whether this is the workspace's first start (its state directory was new):
   * only then is the home taken as the default template.
   */
  firstStart: boolean;
  supervisor: ResetSupervisor;
  /** Why another operation forbids a reset now (a GPU switch under way), or null. */
  blockedBy: () => string | null;
  /** The pre-reset snapshot; null: snapshots are not set up, and resets are refused (they must be undoable). */
  snapshotter: HomeSnapshotter | null;
  restorer: HomeRestorer | null;
  hooks: HookRunner | null;
  audit: (actor: string, action: string, detail: object) => void;
  log: Logger;
}

const SNAPSHOT_ID = /^[0-9a-f]{8,64}$/;

/**
 * Reset Data: a clean copy of the template in place of the home, undoable
 * and crash-safe. One reset (or undo) at a time. The pre-reset snapshot comes
 * first and a reset is refused without it; the home is swapped with Jupyter
 * stopped, through a journal that the next start reads to finish or roll back
 * a reset a crash interrupted; the operator's post-reset hook runs before
 * Jupyter starts again.
 */
export class ResetService {
  readonly home: string;
  private readonly dir: string;
  private readonly journal: ResetJournal;
  private step: ResetStep | null = null;
  private last: ResetJournalEntry | null = null;
  private templateProblem: string | null = null;

  /** The moves, copies and deletes in the home and in the reset's folders, all as the notebook user. */
  private readonly files: UserFiles;

  constructor(private readonly options: ResetServiceOptions) {
    this.home = path.resolve(options.home);
    // The reset's work area (root's, 0711, in the root-only state directory): the journal, the first-start
    // template and each reset's folder (the user's) with the clean copy and the old entries aside.
    this.dir = path.join(path.resolve(options.stateDir), 'reset');
    this.journal = new ResetJournal(this.dir);
    this.files = new UserFiles(options.runAs, this.dir);
  }

  get templateSource(): ResetTemplateSource {
    return this.options.policy.template_dir ? 'operator' : 'first-start';
  }

  /** The folder clean copies are made from. */
  get templateDir(): string {
    return this.options.policy.template_dir ? path.resolve(this.options.policy.template_dir) : path.join(this.dir, 'template');
  }

  private get ctx(): SwapContext {
    return { journal: this.journal, runAs: this.options.runAs, files: this.files, log: this.options.log };
  }

  /**
   * At start, before Jupyter (and before an empty home is refilled from a
   * snapshot): checks the template (taking the first-start copy if there is
   * none yet), then finishes or rolls back a reset that a crash interrupted.
   */
  async init(): Promise<void> {
    try {
      prepareWorkArea(this.dir, this.options.runAs !== null);
    } catch (err) {
      throw new StartupError(`The reset folder cannot be prepared: ${(err as Error).message}`);
    }
    await this.checkTemplate();
    let entry: ResetJournalEntry | null;
    try {
      entry = this.journal.read();
    } catch (err) {
      this.options.log.error('the reset journal cannot be read; resets are refused until it is moved away', { error: (err as Error).message });
      this.templateProblem = `The reset journal cannot be read (${(err as Error).message}); the operator must look at it.`;
      return;
    }
    if (entry && entry.outcome === null) {
      entry = await this.recoverAtStart(entry);
    }
    this.last = entry;
    await this.removeLeftovers(entry);
  }

  private async checkTemplate(): Promise<void> {
    const policy = this.options.policy;
    if (policy.template_dir) {
      const dir = this.templateDir;
      if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
        throw new StartupError(`reset.template_dir is ${dir}, which is not a folder. Create it with the clean home's files, or unset reset.template_dir.`);
      }
      const inside = (a: string, b: string): boolean => a === b || a.startsWith(b + path.sep);
      if (inside(dir, this.home) || inside(this.home, dir)) {
        throw new StartupError(`reset.template_dir (${dir}) must lie outside the home folder (${this.home}), and the home outside it.`);
      }
      return;
    }
    if (fs.existsSync(this.templateDir)) {
      return;
    }
    // A first start cut short while copying (the partial copy is there) never ran Jupyter: the home is still as provided.
    if (!this.options.firstStart && !fs.existsSync(`${this.templateDir}.partial`)) {
      // The home now holds the user's work, not a clean copy: taking it would make a reset keep that work.
      this.templateProblem =
        'This workspace has no reset template: it was first started before Reset Data existed, so its first-start home was not kept. The operator can set reset.template_dir.';
      this.options.log.warn('no reset template; resets are refused until reset.template_dir is set');
      return;
    }
    try {
      await takeFirstStartTemplate(this.home, this.templateDir, policy.exclude, this.files, this.options.runAs);
      this.options.log.info('took the reset template: the home as it is at this first start', { template: this.templateDir });
    } catch (err) {
      this.templateProblem = `The reset template could not be made at the first start: ${(err as Error).message}`;
      this.options.log.error('reset template not taken', { error: (err as Error).message });
    }
  }

  private async recoverAtStart(entry: ResetJournalEntry): Promise<ResetJournalEntry> {
    const log = this.options.log;
    log.warn('a reset was interrupted; bringing the home to a whole state', { id: entry.id, phase: entry.phase });
    let recovered: { entry: ResetJournalEntry; action: 'rolled-back' | 'finished' };
    try {
      recovered = await recover(entry, this.ctx);
    } catch (err) {
      // Left as it is for the operator (and the next start tries again); resets are refused meanwhile.
      this.templateProblem = `An interrupted reset could not be finished or rolled back: ${(err as Error).message}`;
      log.error('reset recovery failed', { id: entry.id, error: (err as Error).message });
      return entry;
    }
    let e = recovered.entry;
    let message =
      recovered.action === 'rolled-back'
        ? `The workspace service stopped during this reset (at "${entry.phase}"); at the next start the home was put back as it was.`
        : `The workspace service stopped during this reset (at "${entry.phase}"); at the next start the reset was finished.`;
    if (recovered.action === 'finished' && (e.hook === 'pending' || e.hook === 'rerunning')) {
      const rerun = e.hook === 'pending';
      e = this.journal.update(e, { hook: rerun ? 'rerunning' : 'failed' });
      if (rerun) {
        let result: HookResult | null = null;
        try {
          result = await this.runHook(e);
        } catch (err) {
          log.error('the post-reset hook could not be run again', { error: (err as Error).message });
        }
        e = this.journal.update(e, { hook: result?.ok ? 'succeeded' : 'failed', hook_run: result?.run.id ?? null });
        message += result?.ok ? ' The post-reset hook was run again.' : ' The post-reset hook, run again then, failed.';
      } else {
        message += ' The post-reset hook did not finish twice, so it was not run again.';
      }
    }
    e = this.journal.update(e, {
      phase: recovered.action === 'finished' ? 'done' : e.phase,
      outcome: recovered.action,
      recovered: recovered.action,
      finished_at: new Date().toISOString(),
      message
    });
    this.audit('sidecar', 'reset', e, { recovered: true });
    log.warn('interrupted reset ' + (recovered.action === 'finished' ? 'finished' : 'rolled back'), { id: e.id });
    return e;
  }

  /** Staging folders of resets that are over (a crash may leave them), deleted as the user. */
  private async removeLeftovers(entry: ResetJournalEntry | null): Promise<void> {
    if (entry && entry.outcome === null) {
      return;
    }
    const dirs = entry ? [entry.work_dir] : [];
    try {
      dirs.push(...fs.readdirSync(this.dir).filter(name => /^r-[0-9a-z-]+$/.test(name)).map(name => path.join(this.dir, name)));
    } catch {
      // No reset folder yet.
    }
    for (const dir of new Set(dirs)) {
      await removeWork(dir, this.files).catch(err => this.options.log.warn('could not remove an old reset folder', { dir, error: (err as Error).message }));
    }
  }

  /** Resolves once it is known whether snapshots work (the repository opens in the background at start). */
  async whenReady(): Promise<void> {
    await this.options.restorer?.whenReady();
  }

  /** Why a reset cannot start now because something else runs, or null. */
  private busyRefusal(): WorkspaceError | null {
    const o = this.options;
    if (o.supervisor.isShuttingDown) {
      return stopping();
    }
    if (this.step !== null) {
      return busy(this.step === 'undoing' ? 'A reset is being undone. Wait for it to finish.' : 'A reset is already under way. Wait for it to finish.');
    }
    if (o.supervisor.isBusy) {
      return busy('The Jupyter server is starting, stopping or restarting. Try again once it runs.');
    }
    const blocked = o.blockedBy();
    return blocked ? busy(blocked) : null;
  }

  /** Why this workspace cannot reset at all right now (no template, no snapshots, no hook runner), or null. */
  private setupRefusal(): WorkspaceError | null {
    const o = this.options;
    if (this.templateProblem) {
      return new WorkspaceError(503, this.templateProblem, 'internal');
    }
    if (!o.snapshotter || !o.restorer) {
      return snapshotsUnavailable('Resets need snapshots, so that a reset can be undone, and snapshots are not set up in this workspace.');
    }
    if (o.restorer.reason) {
      return snapshotsUnavailable(`Nothing can be reset while snapshots cannot be taken, because a reset must be undoable: ${o.restorer.reason}`);
    }
    if (o.policy.post_reset_hook.length > 0 && !o.hooks) {
      return new WorkspaceError(503, 'A post-reset hook is configured, but operator hooks cannot run in this workspace.', 'internal');
    }
    return null;
  }

  status(): ResetStatusResponse {
    const refusal = this.busyRefusal() ?? this.setupRefusal();
    return {
      template: this.templateSource,
      post_reset_hook: this.options.policy.post_reset_hook.length > 0,
      available: refusal === null,
      reason: refusal?.message ?? null,
      running: this.step,
      last: this.last ? recordOf(this.last) : null
    };
  }

  /**
   * Resets the home: the pre-reset snapshot, the clean copy staged, Jupyter
   * stopped, the swap, the post-reset hook, Jupyter started. Throws a
   * WorkspaceError when refused (nothing changed), when the swap failed (the
   * home is as it was), or `hook_failed` when the hook failed (the home is
   * reset and Jupyter runs).
   */
  async reset(actor: string): Promise<ResetResponse> {
    const refusal = this.busyRefusal();
    if (refusal) {
      throw refusal;
    }
    // Taken before anything is awaited: a second reset asked for meanwhile is refused as busy.
    this.step = 'snapshot';
    try {
      await this.whenReady();
      const unable = this.setupRefusal();
      if (unable) {
        throw unable;
      }
      return await this.run(actor);
    } finally {
      this.step = null;
    }
  }

  private async run(actor: string): Promise<ResetResponse> {
    const o = this.options;
    const startedAt = new Date();
    const timings: ResetTimings = { snapshot_ms: 0, prepare_ms: 0, stop_ms: 0, swap_ms: 0, hook_ms: 0, start_ms: 0 };
    let mark = performance.now();
    const lap = (): number => {
      const now = performance.now();
      const ms = Math.round(now - mark);
      mark = now;
      return ms;
    };

    const snapshot = await (o.snapshotter as HomeSnapshotter).snapshotFor('pre-reset');
    timings.snapshot_ms = lap();
    if (!snapshot.taken) {
      this.safeAudit(actor, 'reset', { outcome: 'refused', reason: snapshot.reason });
      throw snapshotsUnavailable(`Nothing was reset: the snapshot that makes a reset undoable could not be taken. ${snapshot.reason}`);
    }

    this.step = 'preparing';
    let entry = this.newEntry(snapshot.id, startedAt);
    this.journal.write(entry);
    this.last = entry;
    try {
      await stageTemplate(entry, this.ctx);
      await this.checkSpace(entry);
    } catch (err) {
      throw this.failedBeforeSwap(entry, actor, err instanceof WorkspaceError ? err : new WorkspaceError(500, `Nothing was reset: the clean copy could not be prepared (${(err as Error).message}).`, 'internal'));
    }
    timings.prepare_ms = lap();

    this.step = 'stopping';
    let hook: HookResult | null = null;
    let hookError: Error | null = null;
    let swapStarted = false;
    let startError: Error | null = null;
    try {
      await o.supervisor.whileStopped('reset data', async () => {
        timings.stop_ms = lap();
        this.step = 'swapping';
        swapStarted = true;
        entry = await this.swap(entry, actor);
        timings.swap_ms = lap();
        if (entry.hook === 'pending') {
          this.step = 'hook';
          try {
            hook = await this.runHook(entry);
          } catch (err) {
            hookError = err as Error;
          }
          entry = this.journal.update(entry, { hook: hook?.ok ? 'succeeded' : 'failed', hook_run: hook?.run.id ?? null });
          timings.hook_ms = lap();
        }
        this.step = 'starting';
      });
    } catch (err) {
      if (!swapStarted) {
        // Refused before Jupyter was stopped (a restart began meanwhile): nothing changed.
        throw this.failedBeforeSwap(entry, actor, err instanceof WorkspaceError ? err : new WorkspaceError(500, (err as Error).message, 'internal'));
      }
      if (entry.phase !== 'template-in-place') {
        // The swap failed and was rolled back (and recorded) before Jupyter started again.
        throw err;
      }
      // The home is reset; only Jupyter's start failed (it keeps trying with back-off).
      startError = err as Error;
    }
    timings.start_ms = lap();

    const hookResult = hook as HookResult | null;
    const ranHookError = hookError as Error | null;
    const outcome = (hookResult && !hookResult.ok) || ranHookError ? 'hook-failed' : 'succeeded';
    const problems = [
      hookResult && !hookResult.ok ? `the post-reset hook ${this.howItFailed(hookResult)}` : null,
      ranHookError ? `the post-reset hook could not be run (${ranHookError.message})` : null,
      startError ? `the Jupyter server did not start again: ${startError.message}` : null
    ].filter(Boolean);
    entry = this.journal.update(entry, {
      phase: 'done',
      outcome,
      finished_at: new Date().toISOString(),
      message: problems.length ? `The home was reset, but ${problems.join('; and ')}.` : null
    });
    this.last = entry;
    this.audit(actor, 'reset', entry, { timings });
    void removeWork(entry.work_dir, this.files).catch(err => o.log.warn('could not remove the reset staging', { error: (err as Error).message }));
    o.log.info('home reset', { id: entry.id, snapshot: snapshot.id, outcome, ...timings });

    const undoable = `snapshot ${snapshot.id} holds what it held before: Undo reset restores it`;
    if (hookResult && !hookResult.ok) {
      throw hookFailed(
        `The home was reset (${undoable}), but the post-reset hook ${this.howItFailed(hookResult)}.` +
          (startError ? ` The Jupyter server did not start again yet: ${startError.message}` : ''),
        failureOf(hookResult),
        422
      );
    }
    if (ranHookError || startError) {
      throw new WorkspaceError(
        startError ? 503 : 500,
        `The home was reset (${undoable}), but ${problems.join('; and ')}.`,
        startError ? 'jupyter_failed' : 'internal'
      );
    }
    return {
      id: entry.id,
      snapshot_id: snapshot.id,
      template: entry.template,
      hook: hookResult?.run ?? null,
      started_at: entry.started_at,
      finished_at: entry.finished_at as string,
      timings
    };
  }

  private howItFailed(result: HookResult): string {
    return result.run.state === 'timed-out' ? `${describeEnd(result.run)} (reset.hook_timeout_seconds)` : describeEnd(result.run);
  }

  private newEntry(snapshotId: string, startedAt: Date): ResetJournalEntry {
    const id = `r-${startedAt.getTime().toString(36)}-${randomBytes(3).toString('hex')}`;
    prepareWorkArea(this.dir, this.options.runAs !== null);
    const same = sameFilesystem(this.dir, this.home);
    // On either filesystem, in the work area: the user's helpers reach it from there, the user's processes never.
    const workDir = path.join(this.dir, id);
    makeWorkDir(workDir, this.options.runAs);
    return {
      version: 1,
      id,
      phase: 'preparing',
      outcome: null,
      recovered: null,
      snapshot_id: snapshotId,
      template: this.templateSource,
      template_dir: this.templateDir,
      home: this.home,
      work_dir: workDir,
      staged: path.join(workDir, 'incoming'),
      aside: path.join(workDir, 'previous'),
      same_filesystem: same,
      kept: [],
      // Pending from the start: a crash once the clean copy is in place runs it at the next start.
      hook: this.options.policy.post_reset_hook.length > 0 ? 'pending' : 'none',
      hook_run: null,
      started_at: startedAt.toISOString(),
      finished_at: null,
      message: null
    };
  }

  /** Across filesystems the old entries are deleted before the copy comes in: refuse up front if it cannot fit even then. */
  private async checkSpace(entry: ResetJournalEntry): Promise<void> {
    if (entry.same_filesystem) {
      return;
    }
    const { bavail, bsize } = fs.statfsSync(this.home);
    const free = Number(bavail) * Number(bsize);
    // The staged copy is in the root-only work area: measured here. The home is measured by du as the user.
    const needed = treeBytes(entry.staged);
    if (needed <= free) {
      return;
    }
    const freed = await homeTotal(this.home, this.options.policy.exclude, this.options.runAs);
    if (needed > free + freed) {
      throw new WorkspaceError(507, `Nothing was reset: the clean copy (${needed} bytes) does not fit on the home's disk.`, 'internal');
    }
  }

  /** The swap, with Jupyter stopped. A failure part way is rolled back (or finished) at once, never left half done. */
  private async swap(entry: ResetJournalEntry, actor: string): Promise<ResetJournalEntry> {
    const kept = fs.readdirSync(this.home).filter(excludedBy(this.options.policy.exclude));
    try {
      return await swapIn(entry, kept, this.ctx);
    } catch (err) {
      const where = this.journal.read() ?? entry;
      this.options.log.error('reset swap failed; bringing the home to a whole state', { id: entry.id, phase: where.phase, error: (err as Error).message });
      let recovered;
      try {
        recovered = await recover(where, this.ctx);
      } catch (again) {
        this.templateProblem = `A reset failed part way and could not be undone: ${(again as Error).message}. The next start tries again.`;
        throw new WorkspaceError(500, `${this.templateProblem} The operator must look at the workspace.`, 'internal');
      }
      if (recovered.action === 'finished') {
        return recovered.entry;
      }
      const failed = this.journal.update(recovered.entry, {
        outcome: 'failed',
        finished_at: new Date().toISOString(),
        message: `The swap failed (${(err as Error).message}); the home was put back as it was.`
      });
      this.last = failed;
      this.audit(actor, 'reset', failed, {});
      void removeWork(failed.work_dir, this.files).catch(() => undefined);
      throw new WorkspaceError(500, `Nothing was reset: ${failed.message}`, 'internal');
    }
  }

  private failedBeforeSwap(entry: ResetJournalEntry, actor: string, err: WorkspaceError): WorkspaceError {
    const failed = this.journal.update(entry, { outcome: 'failed', finished_at: new Date().toISOString(), message: err.message });
    this.last = failed;
    this.audit(actor, 'reset', failed, {});
    void removeWork(failed.work_dir, this.files).catch(() => undefined);
    return err;
  }

  private async runHook(entry: ResetJournalEntry): Promise<HookResult | null> {
    const { hooks, policy } = this.options;
    if (!hooks || policy.post_reset_hook.length === 0) {
      return null;
    }
    const result = await hooks.run({
      title: 'Post-reset hook',
      command: policy.post_reset_hook,
      cwd: this.home,
      timeoutMs: policy.hook_timeout_seconds * 1000,
      env: { GPU_WORKSPACE_RESET_SNAPSHOT: entry.snapshot_id ?? '' }
    });
    if (!result.ok) {
      this.options.log.warn('post-reset hook failed', { run: result.run.id, exit_code: result.run.exit_code, signal: result.run.signal });
    }
    return result;
  }

  private audit(actor: string, action: string, entry: ResetJournalEntry, extra: object): void {
    this.safeAudit(actor, action, {
      id: entry.id,
      snapshot_id: entry.snapshot_id,
      outcome: entry.outcome,
      template: entry.template,
      hook_run: entry.hook_run,
      message: entry.message,
      ...extra
    });
  }

  /**
   * Undo: the pre-reset snapshot restored whole (a snapshot of the reset
   * home is taken first, so the undo can be undone too).
   */
  async undo(snapshotId: unknown, actor: string): Promise<ResetUndoResponse> {
    if (typeof snapshotId !== 'string' || !SNAPSHOT_ID.test(snapshotId)) {
      throw badRequest('"snapshot_id" must be the id of a pre-reset snapshot (8 to 64 hex digits), as POST reset answered it.');
    }
    const o = this.options;
    if (!o.restorer) {
      throw snapshotsUnavailable('Snapshots are not set up in this workspace, so there is nothing to undo a reset with.');
    }
    if (o.supervisor.isShuttingDown) {
      throw stopping();
    }
    if (this.step !== null) {
      throw busy('A reset or an undo is already under way. Wait for it to finish.');
    }
    this.step = 'undoing';
    try {
      const snap = (await o.restorer.list()).find(s => snapshotId.startsWith(s.id));
      if (!snap) {
        throw notFound(`No snapshot ${snapshotId} in this workspace.`);
      }
      if (snap.trigger !== 'pre-reset') {
        throw badRequest(`Snapshot ${snap.id} was not taken before a reset (its trigger is "${snap.trigger}"). Restore it from the Snapshots panel instead.`);
      }
      let restored: { undo_snapshot: string };
      try {
        restored = await o.restorer.restoreHome(snap.id);
      } catch (err) {
        this.safeAudit(actor, 'reset-undo', { snapshot_id: snap.id, outcome: 'failed', message: (err as Error).message });
        throw err;
      }
      this.safeAudit(actor, 'reset-undo', { snapshot_id: snap.id, undo_snapshot: restored.undo_snapshot, outcome: 'succeeded' });
      o.log.info('reset undone', { snapshot: snap.id, undo_snapshot: restored.undo_snapshot });
      return { snapshot_id: snap.id, undo_snapshot: restored.undo_snapshot };
    } finally {
      this.step = null;
    }
  }

  /** The reset itself happened (or not) whatever the ledger says: a ledger that cannot be written is logged, not made the user's problem. */
  private safeAudit(actor: string, action: string, detail: object): void {
    try {
      this.options.audit(actor, action, detail);
    } catch (err) {
      this.options.log.error('could not write an audit row', { action, error: (err as Error).message });
    }
  }
}

/** Bytes of a tree as lstat counts them (links not followed); only for trees in the root-only state directory. */
function treeBytes(p: string): number {
  const st = fs.lstatSync(p);
  return st.isDirectory() ? fs.readdirSync(p).reduce((sum, name) => sum + treeBytes(path.join(p, name)), st.size) : st.size;
}
