import type { SubmittedFile } from '@jupyterlab-gpu-workspace/api';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { Transform, TransformCallback, Writable } from 'node:stream';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { ZipFile } from 'yazl';

const deflateRaw = promisify(zlib.deflateRaw);

/** How much of a file's start is tried with deflate to decide whether the file is worth compressing. */
const SAMPLE_BYTES = 16 * 1024;
/** A sample that does not shrink below this share of its size is stored as it is. */
const WORTH_IT_RATIO = 0.9;
/** Files sampled at once (each sample is one open and one 16 kB read). */
const SAMPLE_CONCURRENCY = 8;

/** One file to put in the archive: where to read it, and its name there. */
export interface ZipEntry {
  /** Absolute path (in the home, or in the conversions' scratch folder). */
  source: string;
  /** Its path in the archive (relative to the home). */
  name: string;
  origin: SubmittedFile['source'];
}

export interface ZipRequest {
  entries: ZipEntry[];
  /** The files' bytes together may not pass this (`submit.max_bytes`); the zip stops when they do. */
  maxBytes: number;
  /** Written into MANIFEST.json. */
  submission: { id: string; submitted_at: string; user: string };
}

/** What went into the archive: every file with the sha256 of the very bytes the zip holds. */
export interface ZipResult {
  files: SubmittedFile[];
}

/** The files grew past `submit.max_bytes` while they were read (the checklist had them below it). */
export class ZipTooLargeError extends Error {
  constructor(
    readonly bytes: number,
    readonly maxBytes: number
  ) {
    super(`The files passed the submission limit of ${maxBytes} bytes while they were archived.`);
    this.name = 'ZipTooLargeError';
  }
}

/** Counts and hashes the bytes that pass, on their way into the zip. */
class HashingCounter extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;

  constructor(private readonly onBytes: (n: number) => Error | null) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    const problem = this.onBytes(chunk.length);
    if (problem) {
      done(problem);
      return;
    }
    this.hash.update(chunk);
    done(null, chunk);
  }
}

/**
 * Opens a file to archive without following a link in its last name
 * (O_NOFOLLOW) and checks that what was opened is a regular file: a file
 * swapped for a link after the scan fails the archive instead of carrying
 * what the link points at.
 */
function openRegularFile(source: string): Promise<{ fd: number; stat: fs.Stats }> {
  return new Promise((resolve, reject) => {
    fs.open(source, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW, (err, fd) => {
      if (err) {
        reject(err.code === 'ELOOP' ? new Error(`${source} became a symbolic link while the submission was archived`) : err);
        return;
      }
      fs.fstat(fd, (statErr, stat) => {
        if (statErr || !stat.isFile()) {
          fs.close(fd, () => undefined);
          reject(statErr ?? new Error(`${source} is not a regular file`));
          return;
        }
        resolve({ fd, stat });
      });
    });
  });
}

/**
 * Deflate is most of an archive's time, and data that does not shrink
 * (model weights, arrays of floats, images, archives) costs it in full for
 * nothing: such a file is stored as it is. A fast deflate of the file's first
 * 16 kB decides. A file that cannot be opened here is left to the real open,
 * which reports it.
 */
async function worthCompressing(source: string): Promise<boolean> {
  let handle: fs.promises.FileHandle | undefined;
  try {
    handle = await fs.promises.open(source, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    const sample = Buffer.alloc(SAMPLE_BYTES);
    const { bytesRead } = await handle.read(sample, 0, SAMPLE_BYTES, 0);
    if (bytesRead < 1024) {
      return true;
    }
    const packed = await deflateRaw(sample.subarray(0, bytesRead), { level: 1 });
    return packed.length < bytesRead * WORTH_IT_RATIO;
  } catch {
    return true;
  } finally {
    await handle?.close();
  }
}

/** worthCompressing for every entry, a few at a time. */
async function compressionPlan(entries: ZipEntry[]): Promise<boolean[]> {
  const plan = new Array<boolean>(entries.length).fill(true);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < entries.length) {
      const i = next++;
      plan[i] = await worthCompressing(entries[i].source);
    }
  };
  await Promise.all(Array.from({ length: Math.min(SAMPLE_CONCURRENCY, entries.length) }, worker));
  return plan;
}

/** MANIFEST.json: the archive's own account of what it holds. */
export function manifestJson(req: ZipRequest, files: SubmittedFile[]): Buffer {
  const body = { format: 'gpu-workspace-submission/1', ...req.submission, files };
  return Buffer.from(JSON.stringify(body, null, 2) + '\n');
}

/** manifest.sha256: the same sums in sha256sum's format, so `sha256sum -c manifest.sha256` checks an unzipped archive. */
export function manifestSha256(files: SubmittedFile[]): Buffer {
  return Buffer.from(files.map(f => `${f.sha256}  ${f.path}\n`).join(''));
}

/**
 * Writes the submission zip to `out` in one pass: each file is read once
 * (after a 16 kB sample that decides whether it is compressed), hashed on
 * its way into the zip, and MANIFEST.json with every sum goes in last.
 * Files are opened one at a time (yazl's lazy streams), so an archive of
 * thousands of files holds one descriptor.
 */
export async function writeSubmissionZip(req: ZipRequest, out: Writable): Promise<ZipResult> {
  const compress = await compressionPlan(req.entries);
  const zip = new ZipFile();
  let total = 0;
  const tooLarge = (n: number): Error | null => {
    total += n;
    return total > req.maxBytes ? new ZipTooLargeError(total, req.maxBytes) : null;
  };
  return new Promise<ZipResult>((resolve, reject) => {
    let failed = false;
    const fail = (err: Error): void => {
      if (!failed) {
        failed = true;
        zip.outputStream.unpipe(out);
        reject(err);
      }
    };
    const hashed: Array<Promise<SubmittedFile>> = req.entries.map(
      (entry, i) =>
        new Promise<SubmittedFile>((done, broke) => {
          zip.addReadStreamLazy(entry.name, { mode: 0o100644, compress: compress[i] }, cb => {
            openRegularFile(entry.source).then(
              ({ fd }) => {
                const counter = new HashingCounter(tooLarge);
                const input = fs.createReadStream('', { fd, highWaterMark: 1 << 20 });
                input.once('error', err => counter.destroy(err));
                counter.once('error', err => broke(err));
                counter.once('end', () => done({ path: entry.name, sha256: counter.hash.digest('hex'), bytes: counter.bytes, source: entry.origin }));
                cb(null, input.pipe(counter));
              },
              (err: Error) => {
                broke(err);
                cb(err, undefined as unknown as NodeJS.ReadableStream);
              }
            );
          });
        })
    );
    // The manifest can only be written once every sum is known: it is the last entry.
    Promise.all(hashed).then(files => {
      if (failed) {
        return;
      }
      zip.addBuffer(manifestJson(req, files), 'MANIFEST.json', { mode: 0o100644 });
      zip.addBuffer(manifestSha256(files), 'manifest.sha256', { mode: 0o100644 });
      zip.end();
      out.once('finish', () => resolve({ files }));
    }, fail);
    zip.on('error', fail);
    zip.outputStream.once('error', fail);
    out.once('error', fail);
    zip.outputStream.pipe(out);
  });
}
