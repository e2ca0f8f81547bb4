import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import type { SubmittedFile } from '@jupyterlab-gpu-workspace/api';
import { startHelper } from '../jupyter/helperProcess';
import { RunAs } from '../jupyter/launch';
import { scanSubmission, ScanRequest, ScanResult } from './scan';
import { writeSubmissionZip, ZipRequest, ZipTooLargeError } from './zip';

export interface WrittenArchive {
  files: SubmittedFile[];
  /** sha256 of the whole zip, as written to the file. */
  sha256: string;
  bytes: number;
}

/** sha256 and size of a file, read back (from the page cache: it was just written). */
export function hashFile(file: string): Promise<{ sha256: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let bytes = 0;
    fs.createReadStream(file)
      .on('data', chunk => {
        hash.update(chunk);
        bytes += Buffer.byteLength(chunk);
      })
      .once('error', reject)
      .once('end', () => resolve({ sha256: hash.digest('hex'), bytes }));
  });
}

function readAll(stream: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => (text += d));
    stream.once('end', () => resolve(text));
    stream.once('error', reject);
  });
}

/**
 * Everything a submission reads of the home goes through here: in this
 * process when the sidecar is the notebook user itself, else in a child
 * process run as that user (setpriv, the user's own groups), as the home
 * download does. The sidecar, as root, never opens a file of the home.
 */
export class SubmissionReader {
  constructor(private readonly runAs: RunAs | null) {}

  private get asUser(): boolean {
    return this.runAs !== null;
  }

  /**
   * The worker as the notebook user (a helper: jupyter/helperProcess.ts, so
   * the user's own processes cannot reach into it, e.g. through
   * /proc/PID/fd to the archive file it writes); its stdout is a pipe, or the
   * archive file opened for it.
   */
  private spawnWorker(stdout: number | 'pipe' = 'pipe'): ChildProcess {
    return startHelper({
      program: process.execPath,
      args: [path.join(__dirname, 'readerMain.js')],
      runAs: this.runAs,
      cwd: '/',
      stdio: ['pipe', stdout, 'pipe', 'pipe']
    }).child;
  }

  async scan(req: ScanRequest): Promise<ScanResult> {
    if (!this.asUser) {
      return scanSubmission(req);
    }
    const child = this.spawnWorker();
    child.stdin?.end(JSON.stringify({ mode: 'scan', ...req }));
    const [out, err, code] = await Promise.all([readAll(child.stdout as Readable), readAll(child.stderr as Readable), exitCode(child)]);
    if (code !== 0) {
      throw new Error(`the home could not be read as ${this.runAs?.user.name}: ${err.trim() || `exit ${code}`}`);
    }
    return JSON.parse(out) as ScanResult;
  }

  /**
   * Writes the zip to `file` (a new file, 0600). The worker gets the file as
   * its stdout, already open: it writes there without being able to open
   * anything in the state directory. Throws ZipTooLargeError when the files
   * pass the limit.
   */
  async zip(req: ZipRequest, file: string): Promise<WrittenArchive> {
    if (!this.asUser) {
      const sink = fs.createWriteStream(file, { flags: 'wx', mode: 0o600 });
      try {
        const { files } = await writeSubmissionZip(req, sink);
        return { files, ...(await hashFile(file)) };
      } finally {
        sink.destroy();
      }
    }
    const fd = fs.openSync(file, 'wx', 0o600);
    let child: ChildProcess;
    try {
      child = this.spawnWorker(fd);
    } finally {
      fs.closeSync(fd);
    }
    child.stdin?.end(JSON.stringify({ mode: 'zip', ...req }));
    const [report, err, code] = await Promise.all([readAll(child.stdio[3] as Readable), readAll(child.stderr as Readable), exitCode(child)]);
    const result = parseReport(report);
    if (code === 0 && result?.ok && result.files) {
      return { files: result.files, ...(await hashFile(file)) };
    }
    if (result?.kind === 'too_large') {
      throw new ZipTooLargeError(result.bytes ?? req.maxBytes + 1, req.maxBytes);
    }
    throw new Error(result?.message ?? (err.trim() || `the archive worker ended with exit ${code}`));
  }
}

/** The worker's account on fd 3 (null when it died before writing one). */
interface WorkerReport {
  ok: boolean;
  files?: SubmittedFile[];
  kind?: 'too_large' | 'failed';
  message?: string;
  bytes?: number;
}

function parseReport(text: string): WorkerReport | null {
  try {
    return JSON.parse(text) as WorkerReport;
  } catch {
    return null;
  }
}

function exitCode(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', code => resolve(code));
  });
}
