import type {
  SubmissionListResponse,
  SubmissionReceipt,
  SubmitActivity,
  SubmitChecklist,
  SubmitFile,
  SubmitPhase,
  SubmitPhaseTimes
} from '@jupyterlab-gpu-workspace/api';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { SubmitConfig } from '../config/schema';
import { busy, conflict, forbidden, hookFailed, notFound, WorkspaceError } from '../errors';
import { HookRunner } from '../hooks/port';
import { describeEnd, failureOf } from '../hooks/runner';
import { RunAs } from '../jupyter/launch';
import { Logger } from '../log';
import { Database } from '../quota/db';
import { Ledger } from '../quota/ledger';
import { formatBytes } from '@jupyterlab-gpu-workspace/api';
import { HomeSnapshotter } from '../snapshots/port';
import { makePrivateDir } from '../state/privateDir';
import { Delivery, Destination, makeDestination } from './destinations';
import { conversionOutput } from './patterns';
import { hashFile, SubmissionReader, WrittenArchive } from './reader';
import { ReceiptStore } from './receipts';
import { ScanResult } from './scan';
import { manifestJson, ZipEntry, ZipTooLargeError } from './zip';

export interface SubmitServiceOptions {
  config: SubmitConfig;
  home: string;
  stateDir: string;
  /** home.exclude: caches never go into a submission. */
  exclude: string[];
  /** The notebook user: the home is read as this user, hooks run as it. Null: the sidecar's own user. */
  runAs: RunAs | null;
  db: Database;
  ledger: Ledger;
  snapshotter: HomeSnapshotter | null;
  /** Runs conversions and a command destination; null where operator hooks are not available. */
  hooks: HookRunner | null;
  /** argv that runs nbconvert (see nbconvertCommand). */
  nbconvert: string[];
  log: Logger;
}

const RECEIPT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The delivery failed: 502, and the body carries the receipt (the archive is kept for a retry). */
export class DeliveryFailedError extends WorkspaceError {
  constructor(receipt: SubmissionReceipt) {
    super(502, `The submission was archived but not delivered: ${receipt.error ?? 'unknown error'} The archive is kept; retry from the Submissions panel.`, 'delivery_failed', { receipt });
  }
}

/** "alice-20260105T143000Z-1a2b3c4d.zip": who, when (UTC), and the receipt's id, sortable in an exchange folder. */
function archiveName(actor: string, at: Date, id: string): string {
  const who = actor.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+/, '_') || 'user';
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${who}-${stamp}-${id.slice(0, 8)}.zip`;
}

/**
 * Submit Project: the checklist, then conversions (hooks), the zip with its
 * manifest of sums (read as the notebook user), a pre-submit snapshot, the
 * delivery and its receipt. One submission or retry runs at a time; another
 * asked for meanwhile gets 409 busy.
 */
export class SubmitService {
  private readonly reader: SubmissionReader;
  private readonly receipts: ReceiptStore;
  private readonly destination: Destination | null;
  private readonly archiveDir: string;
  private running: SubmitActivity | null = null;

  constructor(private readonly options: SubmitServiceOptions) {
    this.reader = new SubmissionReader(options.runAs);
    this.receipts = new ReceiptStore(options.db);
    this.archiveDir = path.join(options.stateDir, 'submissions');
    const d = options.config.destination;
    this.destination = d
      ? makeDestination(d, {
          hooks: options.hooks,
          home: options.home,
          notebookUid: options.runAs?.user.uid ?? null,
          hookTimeoutMs: options.config.hook_timeout_seconds * 1000,
          deliveryTimeoutMs: options.config.delivery_timeout_seconds * 1000
        })
      : null;
  }

  get enabled(): boolean {
    return this.options.config.enabled && this.destination !== null;
  }

  activity(): SubmitActivity | null {
    return this.running ? { ...this.running } : null;
  }

  // ---- the checklist -------------------------------------------------------

  private scan(): Promise<ScanResult> {
    const { config, home, exclude } = this.options;
    return this.reader.scan({ home, required: config.required, conversions: config.conversions, exclude });
  }

  private checklistOf(scan: ScanResult): SubmitChecklist {
    const max = this.options.config.max_bytes;
    // A conversion's "from" is often a required entry too: named once.
    const missing = [...new Set([...scan.items.filter(i => !i.present).map(i => i.path), ...scan.conversions.filter(c => !c.ready).map(c => c.from)])];
    const total = scan.files.reduce((sum, f) => sum + f.bytes, 0);
    let reason: string | null = null;
    if (!scan.items.length && !scan.conversions.length) {
      reason = 'The operator\'s manifest names no files to submit.';
    } else if (missing.length) {
      reason = `Missing: ${missing.join(', ')}.`;
    } else if (total > max) {
      reason = `The files hold ${formatBytes(total)}, over the ${formatBytes(max)} limit.`;
    }
    return {
      enabled: true,
      ready: reason === null,
      reason,
      items: scan.items,
      conversions: scan.conversions,
      missing,
      total_bytes: total,
      max_bytes: max,
      file_count: scan.files.length,
      destination: this.destination?.info ?? null,
      running: this.activity()
    };
  }

  async checklist(): Promise<SubmitChecklist> {
    if (!this.enabled) {
      return {
        enabled: false,
        ready: false,
        reason: 'Submission is not enabled in this workspace.',
        items: [],
        conversions: [],
        missing: [],
        total_bytes: 0,
        max_bytes: this.options.config.max_bytes,
        file_count: 0,
        destination: null,
        running: null
      };
    }
    return this.checklistOf(await this.scan());
  }

  list(): SubmissionListResponse {
    return { enabled: this.enabled, submissions: this.receipts.list(), running: this.activity() };
  }

  // ---- submitting ----------------------------------------------------------

  private requireEnabled(): Destination {
    if (!this.enabled || !this.destination) {
      throw forbidden('Submission is not enabled in this workspace.');
    }
    return this.destination;
  }

  /** Runs `work` as the one submission under way; another asked for meanwhile is refused. */
  private async exclusively<T>(activity: SubmitActivity, work: () => Promise<T>): Promise<T> {
    if (this.running) {
      throw busy(`A submission is under way (${this.running.phase}, since ${this.running.started_at}): wait for it to finish.`);
    }
    this.running = activity;
    try {
      return await work();
    } finally {
      this.running = null;
    }
  }

  private phase(phase: SubmitPhase, id: string | null = null): void {
    if (this.running) {
      this.running.phase = phase;
      this.running.id = id ?? this.running.id;
    }
  }

  async submit(actor: string): Promise<SubmissionReceipt> {
    const destination = this.requireEnabled();
    return this.exclusively({ id: null, phase: 'checking', started_at: new Date().toISOString(), retry: false }, () => this.run(actor, destination));
  }

  private async run(actor: string, destination: Destination): Promise<SubmissionReceipt> {
    const { config, log } = this.options;
    const checklist = this.checklistOf(await this.scan());
    // Each file once, though two required entries may match it.
    const files = new Map<string, SubmitFile>(checklist.items.flatMap(i => i.files).map(f => [f.path, f]));
    if (checklist.missing.length) {
      throw new WorkspaceError(422, `Not submitted: ${checklist.missing.length === 1 ? 'a required file is' : 'required files are'} missing: ${checklist.missing.join(', ')}.`, 'submission_incomplete', {
        missing: checklist.missing
      });
    }
    if (!checklist.ready) {
      if (checklist.total_bytes > config.max_bytes) {
        throw this.tooLarge(checklist.total_bytes, [...files.values()]);
      }
      throw new WorkspaceError(422, `Not submitted: ${checklist.reason}`, 'submission_incomplete', { missing: [] });
    }
    const id = randomUUID();
    const submittedAt = new Date();
    const phases: SubmitPhaseTimes = { conversion: null, archive: null, snapshot: null, delivery: null };
    const scratch = checklist.conversions.length ? this.scratchFolder() : null;
    const archive = path.join(this.archiveDir, `${id}.zip`);
    let written: WrittenArchive;
    try {
      this.phase('converting');
      let started = performance.now();
      const converted = scratch ? await this.convert(checklist, scratch, actor) : [];
      phases.conversion = scratch ? Math.round(performance.now() - started) : null;

      this.phase('archiving', id);
      started = performance.now();
      const replaced = new Set(converted.map(c => c.name));
      const entries: ZipEntry[] = [
        ...[...files.keys()].filter(p => !replaced.has(p)).map(p => ({ source: path.join(this.options.home, p), name: p, origin: 'home' as const })),
        ...converted
      ].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      fs.mkdirSync(this.archiveDir, { recursive: true, mode: 0o700 });
      try {
        written = await this.reader.zip({ entries, maxBytes: config.max_bytes, submission: { id, submitted_at: submittedAt.toISOString(), user: actor } }, archive);
      } catch (err) {
        fs.rmSync(archive, { force: true });
        if (err instanceof ZipTooLargeError) {
          throw this.tooLarge(err.bytes, [...files.values()]);
        }
        throw new WorkspaceError(409, `The submission could not be archived: ${(err as Error).message}. Did a file change meanwhile? Try again.`, 'conflict');
      }
      phases.archive = Math.round(performance.now() - started);
    } finally {
      if (scratch) {
        fs.rmSync(scratch, { recursive: true, force: true });
      }
    }

    this.phase('snapshot');
    let started = performance.now();
    const snapshot = this.options.snapshotter
      ? await this.options.snapshotter.snapshotFor('pre-submit')
      : { taken: false as const, reason: 'Snapshots are not set up in this workspace.' };
    phases.snapshot = Math.round(performance.now() - started);
    if (!snapshot.taken) {
      log.warn('no pre-submit snapshot', { id, reason: snapshot.reason });
    }

    const content = written.files.reduce((sum, f) => sum + f.bytes, 0);
    const receipt: SubmissionReceipt = {
      id,
      submitted_at: submittedAt.toISOString(),
      actor,
      files: written.files,
      skipped: this.skippedOf(checklist),
      archive_name: archiveName(actor, submittedAt, id),
      archive_sha256: written.sha256,
      bytes: written.bytes,
      content_bytes: content,
      destination: { ...destination.info, detail: null },
      outcome: 'failed',
      error: 'Not delivered yet: the delivery was under way, or the workspace service stopped during it.',
      snapshot_id: snapshot.taken ? snapshot.id : null,
      snapshot_note: snapshot.taken ? null : snapshot.reason,
      attempts: 0,
      last_attempt_at: new Date().toISOString(),
      delivered_at: null,
      archive_kept: true,
      hook_run_id: null,
      phases_ms: phases
    };
    // Recorded before the delivery: a sidecar killed during it leaves a receipt to retry from.
    this.receipts.save(receipt);

    this.phase('delivering');
    started = performance.now();
    const done = await this.deliver(receipt, destination, archive);
    done.phases_ms.delivery = Math.round(performance.now() - started);
    this.receipts.save(done);
    this.options.ledger.audit(actor, 'submit', {
      id,
      outcome: done.outcome,
      files: done.files.length,
      bytes: done.bytes,
      archive_sha256: done.archive_sha256,
      destination: done.destination.type,
      error: done.error,
      snapshot_id: done.snapshot_id
    });
    log.info('submission', { id, outcome: done.outcome, files: done.files.length, bytes: done.bytes, phases_ms: done.phases_ms, error: done.error });
    if (done.outcome !== 'delivered') {
      throw new DeliveryFailedError(done);
    }
    return done;
  }

  private skippedOf(checklist: SubmitChecklist): SubmissionReceipt['skipped'] {
    const seen = new Map<string, string>();
    for (const item of checklist.items) {
      for (const s of item.skipped) {
        seen.set(s.path, s.reason);
      }
    }
    return [...seen].map(([p, reason]) => ({ path: p, reason }));
  }

  private tooLarge(total: number, files: SubmitFile[]): WorkspaceError {
    const max = this.options.config.max_bytes;
    const largest = [...files].sort((a, b) => b.bytes - a.bytes).slice(0, 5);
    return new WorkspaceError(
      413,
      `Not submitted: the files hold ${formatBytes(total)}, over the ${formatBytes(max)} limit.${largest.length ? ` The largest: ${largest.map(f => `${f.path} (${formatBytes(f.bytes)})`).join(', ')}.` : ''}`,
      'too_large',
      { total_bytes: total, max_bytes: max, largest }
    );
  }

  /** A fresh folder for the conversions' outputs, outside the home, that the notebook user (who runs them) owns. */
  private scratchFolder(): string {
    return makePrivateDir('gpu-workspace-submit-', this.options.runAs?.user);
  }

  /**
   * Runs every conversion, one hook per source, into the scratch folder (the
   * home is not changed). A failure stops the submission with the hook's log.
   */
  private async convert(checklist: SubmitChecklist, scratch: string, actor: string): Promise<ZipEntry[]> {
    const hooks = this.options.hooks;
    if (!hooks) {
      throw new WorkspaceError(503, 'Not submitted: conversions run as operator hooks, which are not available in this workspace.', 'internal');
    }
    const out: ZipEntry[] = [];
    for (const conversion of checklist.conversions) {
      for (const source of conversion.sources) {
        const output = conversionOutput(source, conversion.to);
        const outDir = path.join(scratch, path.dirname(output));
        const result = await hooks.run({
          title: `Convert ${source} to ${conversion.to.toUpperCase()}`,
          command: [...this.options.nbconvert, '--to', conversion.to, '--output-dir', outDir, path.join(this.options.home, source)],
          cwd: this.options.home,
          timeoutMs: this.options.config.hook_timeout_seconds * 1000
        });
        if (!result.ok) {
          this.options.ledger.audit(actor, 'submit', { outcome: 'conversion-failed', source, hook_run: result.run.id });
          throw hookFailed(`Not submitted: converting ${source} to ${conversion.to.toUpperCase()} ${describeEnd(result.run)}.`, failureOf(result));
        }
        const made = path.join(scratch, output);
        if (!fs.lstatSync(made, { throwIfNoEntry: false })?.isFile()) {
          throw hookFailed(`Not submitted: converting ${source} ended well but wrote no ${output}.`, failureOf(result));
        }
        out.push({ source: made, name: output, origin: 'conversion' });
      }
    }
    return out;
  }

  /** One delivery attempt; the receipt comes back updated (outcome, error, attempts, archive kept or not). */
  private async deliver(receipt: SubmissionReceipt, destination: Destination, archive: string): Promise<SubmissionReceipt> {
    const delivery: Delivery = {
      archive,
      name: receipt.archive_name,
      id: receipt.id,
      sha256: receipt.archive_sha256,
      manifest: manifestJson({ entries: [], maxBytes: 0, submission: { id: receipt.id, submitted_at: receipt.submitted_at, user: receipt.actor } }, receipt.files)
    };
    let outcome;
    try {
      outcome = await destination.deliver(delivery);
    } catch (err) {
      outcome = { ok: false, detail: null, error: `The delivery failed: ${(err as Error).message}`, hookRunId: null };
    }
    const now = new Date().toISOString();
    if (outcome.ok) {
      // Delivered: the destination holds it now; the state directory does not keep a second copy.
      fs.rmSync(archive, { force: true });
    }
    return {
      ...receipt,
      destination: { ...destination.info, detail: outcome.detail },
      outcome: outcome.ok ? 'delivered' : 'failed',
      error: outcome.error,
      attempts: receipt.attempts + 1,
      last_attempt_at: now,
      delivered_at: outcome.ok ? now : null,
      archive_kept: !outcome.ok,
      hook_run_id: outcome.hookRunId,
      phases_ms: { ...receipt.phases_ms }
    };
  }

  /** Delivers a failed submission's kept archive again, to the destination as configured now. */
  async retry(id: string, actor: string): Promise<SubmissionReceipt> {
    const destination = this.requireEnabled();
    if (!RECEIPT_ID.test(id)) {
      throw notFound(`No submission "${id}": receipt ids are the ids POST submit answered with.`);
    }
    return this.exclusively({ id, phase: 'delivering', started_at: new Date().toISOString(), retry: true }, async () => {
      const receipt = this.receipts.get(id);
      if (!receipt) {
        throw notFound(`No submission ${id} in this workspace.`);
      }
      if (receipt.outcome === 'delivered') {
        throw conflict(`Submission ${id} was already delivered (${receipt.delivered_at}).`);
      }
      const archive = path.join(this.archiveDir, `${id}.zip`);
      if (!fs.existsSync(archive)) {
        throw conflict(`The archive of submission ${id} is no longer kept, so it cannot be delivered again; submit anew.`);
      }
      if ((await hashFile(archive)).sha256 !== receipt.archive_sha256) {
        throw conflict(`The kept archive of submission ${id} no longer matches its receipt's sum; submit anew.`);
      }
      const started = performance.now();
      const done = await this.deliver(receipt, destination, archive);
      done.phases_ms.delivery = Math.round(performance.now() - started);
      this.receipts.save(done);
      this.options.ledger.audit(actor, 'submit-retry', { id, attempt: done.attempts, outcome: done.outcome, destination: done.destination.type, error: done.error });
      this.options.log.info('submission retried', { id, outcome: done.outcome, attempts: done.attempts, error: done.error });
      if (done.outcome !== 'delivered') {
        throw new DeliveryFailedError(done);
      }
      return done;
    });
  }
}
