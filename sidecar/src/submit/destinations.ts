import type { SubmitDestinationInfo } from '@jupyterlab-gpu-workspace/api';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SubmitDestinationConfig } from '../config/schema';
import { HookRunner } from '../hooks/port';
import { describeEnd } from '../hooks/runner';

/** What a destination is handed: the archive kept in the state directory, and its facts. */
export interface Delivery {
  /** The archive's path (in the state directory, where only the sidecar reads it). */
  archive: string;
  /** The file name it should have at the destination. */
  name: string;
  id: string;
  sha256: string;
  /** MANIFEST.json's content (sent beside the zip by the HTTP destination). */
  manifest: Buffer;
}

export interface DeliveryOutcome {
  ok: boolean;
  /** Where it landed or what answered: the file in the exchange folder, "HTTP 201", "exit 0". */
  detail: string | null;
  /** Why it failed, in words for the user; null when delivered. */
  error: string | null;
  /** The hook run of a command destination (its log). */
  hookRunId: string | null;
}

export interface Destination {
  readonly info: SubmitDestinationInfo;
  deliver(delivery: Delivery): Promise<DeliveryOutcome>;
}

export interface DestinationDeps {
  /** Runs a command destination; null where operator hooks are not available. */
  hooks: HookRunner | null;
  home: string;
  /** The notebook user a command destination runs as (the copy it reads must be readable by that user). */
  notebookUid: number | null;
  hookTimeoutMs: number;
  deliveryTimeoutMs: number;
}

const failed = (error: string, hookRunId: string | null = null): DeliveryOutcome => ({ ok: false, detail: null, error, hookRunId });

/** A URL as it may be shown and recorded: no user, password, query or fragment (any could carry a secret). */
export function displayUrl(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/** Copies the zip into the operator's exchange folder: under a hidden name first, then renamed, so a reader never sees half a zip. */
class DirectoryDestination implements Destination {
  readonly info: SubmitDestinationInfo;

  constructor(private readonly dir: string) {
    this.info = { type: 'directory', where: dir };
  }

  async deliver(d: Delivery): Promise<DeliveryOutcome> {
    const target = path.join(this.dir, d.name);
    const partial = path.join(this.dir, `.${d.name}.partial`);
    try {
      const st = await fs.promises.stat(this.dir);
      if (!st.isDirectory()) {
        return failed(`The exchange folder ${this.dir} is not a folder.`);
      }
      await fs.promises.copyFile(d.archive, partial);
      // The exchange folder's own permissions decide who reads it; the kept archive's 0600 does not carry over.
      await fs.promises.chmod(partial, 0o644);
      const handle = await fs.promises.open(partial, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.promises.rename(partial, target);
      return { ok: true, detail: target, error: null, hookRunId: null };
    } catch (err) {
      await fs.promises.rm(partial, { force: true }).catch(() => undefined);
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        return failed(`The exchange folder ${this.dir} does not exist.`);
      }
      if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
        return failed(`The exchange folder ${this.dir} cannot be written (${code}).`);
      }
      if (code === 'ENOSPC') {
        return failed(`The disk of the exchange folder ${this.dir} is full.`);
      }
      return failed(`Copying the archive into ${this.dir} failed: ${(err as Error).message}`);
    }
  }
}

/** Why a fetch failed, from undici's cause (ECONNREFUSED, a DNS failure, a timeout). */
function fetchFailure(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') {
    return `no answer within ${Math.round(timeoutMs / 1000)} s`;
  }
  return e.cause?.code ? `${e.cause.code}${e.cause.message ? ` (${e.cause.message})` : ''}` : (e.cause?.message ?? e.message);
}

/**
 * POSTs the zip as multipart/form-data with the operator's bearer token. The
 * zip streams from its file (fs.openAsBlob), never whole in memory. A
 * redirect is not followed: the token must not travel on to another address.
 */
class HttpDestination implements Destination {
  readonly info: SubmitDestinationInfo;

  constructor(
    private readonly url: string,
    private readonly token: string,
    private readonly timeoutMs: number
  ) {
    this.info = { type: 'http', where: displayUrl(url) };
  }

  async deliver(d: Delivery): Promise<DeliveryOutcome> {
    const form = new FormData();
    form.append('archive', await fs.openAsBlob(d.archive, { type: 'application/zip' }), d.name);
    form.append('manifest', new Blob([d.manifest], { type: 'application/json' }), 'MANIFEST.json');
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        body: form,
        redirect: 'manual',
        headers: { authorization: `Bearer ${this.token}`, 'x-submission-id': d.id, 'x-submission-sha256': d.sha256 },
        signal: AbortSignal.timeout(this.timeoutMs)
      });
    } catch (err) {
      return failed(`Cannot deliver to ${this.info.where}: ${fetchFailure(err, this.timeoutMs)}.`);
    }
    let text = '';
    try {
      text = (await res.text()).slice(0, 300).trim();
    } catch {
      // The status says enough.
    }
    if (res.status >= 200 && res.status < 300) {
      return { ok: true, detail: `HTTP ${res.status}`, error: null, hookRunId: null };
    }
    if (res.status >= 300 && res.status < 400) {
      return failed(`${this.info.where} answered ${res.status} (a redirect, not followed so the token stays there); configure the final URL.`);
    }
    return failed(`${this.info.where} answered ${res.status}${text ? `: ${text}` : ''}.`);
  }
}

/**
 * Runs the operator's command as a hook, with the zip's path in
 * SUBMISSION_ZIP. The command gets a copy in a fresh folder of the
 * sidecar's (the state directory is closed to the notebook user), readable
 * but not writable by that user, removed once it ends.
 */
class CommandDestination implements Destination {
  readonly info: SubmitDestinationInfo;

  constructor(
    private readonly command: string[],
    private readonly deps: DestinationDeps
  ) {
    this.info = { type: 'command', where: command[0] };
  }

  async deliver(d: Delivery): Promise<DeliveryOutcome> {
    const hooks = this.deps.hooks;
    if (!hooks) {
      return failed('Operator hooks are not available in this workspace, so the delivery command cannot run.');
    }
    const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'gpu-workspace-submission-'));
    try {
      // Enterable, not listable: the name is known only to the command it is given to.
      await fs.promises.chmod(dir, this.deps.notebookUid === null ? 0o700 : 0o711);
      const copy = path.join(dir, d.name);
      await fs.promises.copyFile(d.archive, copy);
      await fs.promises.chmod(copy, this.deps.notebookUid === null ? 0o600 : 0o644);
      const result = await hooks.run({
        title: `Deliver submission ${d.name}`,
        command: this.command,
        cwd: this.deps.home,
        timeoutMs: this.deps.hookTimeoutMs,
        env: { SUBMISSION_ZIP: copy, SUBMISSION_ID: d.id, SUBMISSION_SHA256: d.sha256, SUBMISSION_NAME: d.name }
      });
      if (result.ok) {
        return { ok: true, detail: `exit ${result.run.exit_code ?? 0}`, error: null, hookRunId: result.run.id };
      }
      return failed(`The delivery command ${describeEnd(result.run)}.`, result.run.id);
    } finally {
      await fs.promises.rm(dir, { recursive: true, force: true });
    }
  }
}

export function makeDestination(config: SubmitDestinationConfig, deps: DestinationDeps): Destination {
  switch (config.type) {
    case 'directory':
      return new DirectoryDestination(config.path);
    case 'http':
      return new HttpDestination(config.url, config.token, deps.deliveryTimeoutMs);
    case 'command':
      return new CommandDestination(config.command, deps);
  }
}
