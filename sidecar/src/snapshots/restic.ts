import * as fs from 'node:fs';
import * as path from 'node:path';
import { Helper, startHelper } from '../jupyter/helperProcess';
import { RunAs } from '../jupyter/launch';

/**
 * Where one repository lives and how restic opens it; nothing here is in the
 * home folder. restic runs with `workDir` as its working folder and names
 * the repository, its cache and its temporary files by paths relative to it,
 * so that, run as the notebook user, it reaches them while the user's own
 * processes cannot (see jupyter/helperProcess.ts).
 */
export interface ResticRepo {
  /** The restic program (Debian's /usr/bin/restic by default). */
  program: string;
  /** restic's working folder: root's, 0711, inside the root-only state directory. */
  workDir: string;
  repository: string;
  passwordFile: string;
  cacheDir: string;
  /** restic's temporary pack files. */
  tmpDir: string;
  /** Who restic runs as; null: the sidecar's own user. */
  runAs: RunAs | null;
}

/** One line of restic's `--json` output that is not the final summary: how far a long operation is. */
export interface ResticProgress {
  percent_done?: number;
  total_files?: number;
  files_done?: number;
  total_bytes?: number;
  bytes_done?: number;
  seconds_elapsed?: number;
}

export interface ResticResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Every JSON object restic printed, in order (progress lines and per-file errors left out unless kept). */
  messages: unknown[];
  /** What restic reported it could not read (backup's "error" messages: the paths), in order, at most 1,000. */
  unreadable: string[];
}

/** Why the sidecar stopped restic before it ended on its own. */
export type ResticStop = 'deadline' | 'stall' | 'no-space' | 'aborted';

export interface RunOptions {
  onProgress?: (p: ResticProgress) => void;
  /** Aborting stops restic (SIGINT: restic then removes its lock; SIGKILL after `graceMs`). */
  signal?: AbortSignal;
  /** Keep every stdout line (ls prints one JSON object per node; backup's progress lines need not be kept). */
  keepMessages?: boolean;
  /** Stop restic once it has run this long. */
  deadlineMs?: number;
  /**
   * Stop restic when its progress has not moved for this long: no status
   * line with new numbers, no new message. Only for commands that report
   * progress (backup); before its first line, the time since the start counts.
   */
  stallMs?: number;
  /** How long restic has to end after SIGINT before it is killed (default 15 s). */
  graceMs?: number;
  /** Open descriptors restic inherits as fd 3, 4, …: folders it reaches as /proc/self/fd/N (see the restore's staging). */
  fds?: number[];
}

/** restic failed; `message` is its own last words (or why the sidecar stopped it), for the operator and the user. */
export class ResticError extends Error {
  constructor(
    message: string,
    readonly result: ResticResult,
    /** Set when the sidecar stopped restic (a deadline, a hang, a full disk, or the service stopping). */
    readonly stopped: ResticStop | null = null,
    /** Whether restic had to be killed (SIGKILL): its lock is then left behind until `restic unlock`. */
    readonly killed = false
  ) {
    super(message);
    this.name = 'ResticError';
  }

  /** The repository exists but this password does not open it. */
  get wrongPassword(): boolean {
    return /wrong password|no key found/i.test(this.result.stderr);
  }

  get locked(): boolean {
    return /repository is already locked/i.test(this.result.stderr);
  }

  get noSpace(): boolean {
    return this.stopped === 'no-space' || NO_SPACE.test(this.result.stderr);
  }
}

const NO_SPACE = /no space left on device/i;

/** The environment restic gets: the repository and password from us, never from the sidecar's own environment. */
function resticEnv(repo: ResticRepo): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('RESTIC_') && !k.startsWith('GPU_WORKSPACE_')) {
      env[k] = v;
    }
  }
  // restic looks for its cache and config under HOME otherwise; keep it off the user's home.
  env.HOME = repo.cacheDir;
  // Temporary pack files go beside the repository, out of the user's reach (and onto the disk the free-space check measures).
  env.TMPDIR = repo.tmpDir;
  return env;
}

/** The last meaningful line restic wrote to stderr, as the message of a failure. */
function lastWords(stderr: string, code: number | null, signal: string | null): string {
  const lines = stderr
    .split('\n')
    .map(l => l.trim())
    .filter(l => l && !l.startsWith('{') && !/^reading repository password from stdin$/.test(l));
  const fatal = lines.find(l => l.startsWith('Fatal:'));
  return fatal ?? lines[lines.length - 1] ?? `restic exited with ${signal ?? `code ${code}`}`;
}

function readPassword(file: string): string {
  const value = fs.readFileSync(file, 'utf8').split('\n')[0];
  if (!value) {
    throw new Error(`the repository password file ${file} is empty`);
  }
  return value;
}

/** A repository path as restic is given it: relative to its working folder when inside it. */
function relativeTo(workDir: string, p: string): string {
  const rel = path.relative(workDir, p);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : p;
}

/** What of a status line counts as progress (elapsed and remaining seconds move by themselves). */
function progressMark(p: ResticProgress & { error_count?: number; current_files?: string[] }): string {
  return JSON.stringify([p.files_done, p.bytes_done, p.total_files, p.total_bytes, p.percent_done, p.error_count, p.current_files]);
}

const DEFAULT_GRACE_MS = 15_000;
const MAX_UNREADABLE = 1000;

function describeMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * Runs one restic command with `--json` and parses its output line by line.
 * restic is a helper (jupyter/helperProcess.ts): as the notebook user when
 * there is one, with the password written to its stdin (restic reads it
 * from there when no other source is set), never in a file or environment
 * the user could read. Killed with the sidecar (SIGINT: restic drops its
 * lock), and stopped (SIGINT, then SIGKILL) past its deadline, when its
 * progress stalls, or at once when it reports a full disk, rather than
 * waiting for restic's own retries.
 */
export function runRestic(repo: ResticRepo, args: string[], options: RunOptions = {}): Promise<ResticResult> {
  const result: ResticResult = { code: null, signal: null, stdout: '', stderr: '', messages: [], unreadable: [] };
  let password: string;
  try {
    password = readPassword(repo.passwordFile);
  } catch (err) {
    return Promise.reject(new ResticError(`Cannot read the repository password: ${(err as Error).message}`, result));
  }
  const argv = ['--json', '-r', relativeTo(repo.workDir, repo.repository), '--cache-dir', relativeTo(repo.workDir, repo.cacheDir), ...args];
  return new Promise((resolve, reject) => {
    let helper: Helper;
    try {
      helper = startHelper({
        program: repo.program,
        args: argv,
        runAs: repo.runAs,
        cwd: repo.workDir,
        env: resticEnv(repo),
        stopSignal: 'SIGINT',
        stdio: ['pipe', 'pipe', 'pipe', ...(options.fds ?? [])]
      });
    } catch (err) {
      reject(new ResticError(`Cannot run restic (${repo.program}): ${(err as Error).message}`, result));
      return;
    }
    const { child } = helper;
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(password + '\n');

    let stopped: ResticStop | null = null;
    let stopMessage = '';
    let stopping: Promise<{ killed: boolean }> | null = null;
    const stop = (why: ResticStop, message: string): void => {
      if (stopped === null) {
        stopped = why;
        stopMessage = message;
        stopping = helper.stop(options.graceMs ?? DEFAULT_GRACE_MS);
      }
    };
    const command = `restic ${args[0] ?? ''}`.trim();

    let lastMark = '';
    let lastMove = Date.now();
    const moved = (): void => {
      lastMove = Date.now();
    };
    const watchSpace = (line: string): void => {
      if (NO_SPACE.test(line)) {
        stop('no-space', `${command} stopped: no space left on device`);
      }
    };

    let pending = '';
    const onLine = (line: string): void => {
      watchSpace(line);
      if (!line.startsWith('{') && !line.startsWith('[')) {
        // Commands without JSON output (check) print text: kept, within reason, for the operator.
        if (result.stdout.length < 65536) {
          result.stdout += line + '\n';
        }
        moved();
        return;
      }
      let message: unknown;
      try {
        message = JSON.parse(line);
      } catch {
        return;
      }
      const type = (message as { message_type?: string }).message_type;
      if (type === 'status') {
        const mark = progressMark(message as ResticProgress);
        if (mark !== lastMark) {
          lastMark = mark;
          moved();
        }
        options.onProgress?.(message as ResticProgress);
        if (!options.keepMessages) {
          return;
        }
      } else {
        moved();
      }
      if (type === 'error') {
        noteUnreadable(message);
        if (!options.keepMessages) {
          return;
        }
      }
      result.messages.push(message);
    };
    const noteUnreadable = (message: unknown): void => {
      const item = (message as { item?: unknown }).item;
      if (typeof item === 'string' && result.unreadable.length < MAX_UNREADABLE && !result.unreadable.includes(item)) {
        result.unreadable.push(item);
      }
    };
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        onLine(pending.slice(0, nl).trim());
        pending = pending.slice(nl + 1);
      }
    });
    let pendingErr = '';
    const onErrLine = (line: string): void => {
      watchSpace(line);
      // backup's per-file errors ({"message_type":"error", "item": path}) come on stderr: each is progress (restic moves on).
      if (line.startsWith('{')) {
        try {
          const message = JSON.parse(line) as { message_type?: string };
          if (message.message_type === 'error') {
            noteUnreadable(message);
            moved();
          }
        } catch {
          // Not JSON after all.
        }
      }
    };
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      // restic's stderr is short (errors, warnings); cap it anyway. Retry warnings repeat: they are no progress.
      if (result.stderr.length < 65536) {
        result.stderr += chunk;
      }
      pendingErr += chunk;
      let nl: number;
      while ((nl = pendingErr.indexOf('\n')) >= 0) {
        onErrLine(pendingErr.slice(0, nl).trim());
        pendingErr = pendingErr.slice(nl + 1);
      }
      if (pendingErr.length > 65536) {
        onErrLine(pendingErr);
        pendingErr = '';
      }
    });

    const abort = (): void => stop('aborted', `${command} was interrupted: the workspace service is stopping`);
    if (options.signal?.aborted) {
      abort();
    }
    options.signal?.addEventListener('abort', abort, { once: true });
    const timers: NodeJS.Timeout[] = [];
    if (options.deadlineMs !== undefined) {
      const ms = options.deadlineMs;
      timers.push(setTimeout(() => stop('deadline', `${command} did not finish within its ${describeMs(ms)} limit and was stopped`), ms));
    }
    if (options.stallMs !== undefined) {
      const ms = options.stallMs;
      const every = Math.max(50, Math.min(1000, Math.floor(ms / 4)));
      timers.push(
        setInterval(() => {
          if (Date.now() - lastMove >= ms) {
            stop('stall', `${command} made no progress for ${describeMs(ms)} and was stopped`);
          }
        }, every)
      );
    }
    let spawnError: Error | null = null;
    child.once('error', err => (spawnError = err));

    void helper.exited.then(async ({ code, signal }) => {
      timers.forEach(t => clearTimeout(t));
      options.signal?.removeEventListener('abort', abort);
      const { killed } = stopping ? await (stopping as Promise<{ killed: boolean }>) : { killed: false };
      if (pending.trim()) {
        onLine(pending.trim());
      }
      if (pendingErr.trim()) {
        onErrLine(pendingErr.trim());
      }
      result.code = code;
      result.signal = signal;
      if (spawnError) {
        reject(new ResticError(`Cannot run restic (${repo.program}): ${(spawnError as Error).message}`, result));
      } else if (stopped !== null) {
        reject(new ResticError(stopMessage, result, stopped, killed));
      } else if (code === 0 || (code === 3 && args[0] === 'backup')) {
        // Exit code 3 of backup: a snapshot was written, but some files could not be read (`unreadable`).
        resolve(result);
      } else {
        reject(new ResticError(lastWords(result.stderr, code, signal), result));
      }
    });
  });
}
