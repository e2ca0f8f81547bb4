import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { SETPRIV } from '../jupyter/launch';

/** Where one repository lives and how restic opens it; nothing here is in the home folder. */
export interface ResticRepo {
  /** The restic program (Debian's /usr/bin/restic by default). */
  program: string;
  repository: string;
  passwordFile: string;
  cacheDir: string;
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
  /** Every JSON object restic printed, in order (progress lines included). */
  messages: unknown[];
}

export interface RunOptions {
  onProgress?: (p: ResticProgress) => void;
  /** Aborting sends SIGINT: restic then removes its lock (SIGTERM and SIGKILL would leave it). */
  signal?: AbortSignal;
  /** Keep every stdout line (ls prints one JSON object per node; backup's progress lines need not be kept). */
  keepMessages?: boolean;
}

/** restic failed; `message` is its own last words, for the operator and the user. */
export class ResticError extends Error {
  constructor(
    message: string,
    readonly result: ResticResult
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
    return /no space left on device/i.test(this.result.stderr);
  }
}

const haveSetpriv = fs.existsSync(SETPRIV);

/** The environment restic gets: the repository and password from us, never from the sidecar's own environment. */
function resticEnv(repo: ResticRepo): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('RESTIC_') && !k.startsWith('GPU_WORKSPACE_')) {
      env[k] = v;
    }
  }
  env.RESTIC_REPOSITORY = repo.repository;
  env.RESTIC_PASSWORD_FILE = repo.passwordFile;
  env.RESTIC_CACHE_DIR = repo.cacheDir;
  // restic looks for its cache and config under HOME otherwise; keep it off the user's home.
  env.HOME = repo.cacheDir;
  return env;
}

/** The last meaningful line restic wrote to stderr, as the message of a failure. */
function lastWords(stderr: string, code: number | null, signal: string | null): string {
  const lines = stderr
    .split('\n')
    .map(l => l.trim())
    .filter(l => l && !l.startsWith('{'));
  const fatal = lines.find(l => l.startsWith('Fatal:'));
  return fatal ?? lines[lines.length - 1] ?? `restic exited with ${signal ?? `code ${code}`}`;
}

/**
 * Runs one restic command with `--json` and parses its output line by line.
 * restic is started through setpriv with SIGINT as the parent-death signal:
 * if the sidecar is killed, restic still stops the clean way and drops its
 * lock instead of running on as an orphan.
 */
export function runRestic(repo: ResticRepo, args: string[], options: RunOptions = {}): Promise<ResticResult> {
  const argv = ['--json', ...args];
  const [file, fullArgv] = haveSetpriv ? [SETPRIV, ['--pdeathsig', 'SIGINT', '--', repo.program, ...argv]] : [repo.program, argv];
  return new Promise((resolve, reject) => {
    const child = spawn(file, fullArgv, { env: resticEnv(repo), stdio: ['ignore', 'pipe', 'pipe'] });
    const result: ResticResult = { code: null, signal: null, stdout: '', stderr: '', messages: [] };
    let pending = '';
    const onLine = (line: string): void => {
      if (!line.startsWith('{') && !line.startsWith('[')) {
        // Commands without JSON output (check) print text: kept, within reason, for the operator.
        if (result.stdout.length < 65536) {
          result.stdout += line + '\n';
        }
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
        options.onProgress?.(message as ResticProgress);
        if (!options.keepMessages) {
          return;
        }
      }
      result.messages.push(message);
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        onLine(pending.slice(0, nl).trim());
        pending = pending.slice(nl + 1);
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      // restic's stderr is short (errors, warnings); cap it anyway.
      if (result.stderr.length < 65536) {
        result.stderr += chunk;
      }
    });
    const abort = (): void => {
      child.kill('SIGINT');
    };
    options.signal?.addEventListener('abort', abort, { once: true });
    child.once('error', err => {
      options.signal?.removeEventListener('abort', abort);
      reject(new ResticError(`Cannot run restic (${repo.program}): ${err.message}`, result));
    });
    child.once('close', (code, signal) => {
      options.signal?.removeEventListener('abort', abort);
      if (pending.trim()) {
        onLine(pending.trim());
      }
      result.code = code;
      result.signal = signal;
      // Exit code 3 of backup: a snapshot was written, but some files could not be read.
      if (code === 0 || (code === 3 && args[0] === 'backup')) {
        resolve(result);
      } else {
        reject(new ResticError(lastWords(result.stderr, code, signal), result));
      }
    });
  });
}
