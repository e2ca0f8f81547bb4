/**
 * `node readerMain.js` with a JSON request on stdin: the sidecar runs this
 * as the notebook user (setpriv), so that what a submission reads of the
 * home is what that user may read, and a link swapped into the home while
 * it is read can never lead to root's files.
 *   {"mode": "scan", ...ScanRequest} → the ScanResult as JSON on stdout
 *   {"mode": "zip", ...ZipRequest}   → the zip on stdout (the archive file, opened by the
 *                                      sidecar); on fd 3 the result:
 *                                      {"ok": true, "files": [...]} or {"ok": false, "kind", "message", ...}
 */
import * as fs from 'node:fs';
import { scanSubmission, ScanRequest } from './scan';
import { writeSubmissionZip, ZipRequest, ZipTooLargeError } from './zip';

type Request = ({ mode: 'scan' } & ScanRequest) | ({ mode: 'zip' } & ZipRequest);

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (d: string) => (text += d));
    process.stdin.once('end', () => resolve(text));
    process.stdin.once('error', reject);
  });
}

function report(result: object): void {
  fs.writeSync(3, JSON.stringify(result));
}

async function main(): Promise<void> {
  const req = JSON.parse(await readStdin()) as Request;
  if (req.mode === 'scan') {
    const result = await scanSubmission(req);
    await new Promise<void>((resolve, reject) => process.stdout.write(JSON.stringify(result), err => (err ? reject(err) : resolve())));
    return;
  }
  try {
    // stdout is the archive file: a plain write stream on it says when every byte is written ('finish'),
    // which process.stdout never does.
    const out = fs.createWriteStream('', { fd: 1, autoClose: false });
    const { files } = await writeSubmissionZip(req, out);
    report({ ok: true, files });
  } catch (err) {
    if (err instanceof ZipTooLargeError) {
      report({ ok: false, kind: 'too_large', message: err.message, bytes: err.bytes });
    } else {
      report({ ok: false, kind: 'failed', message: (err as Error).message });
    }
    // What was written of the zip is worthless now; nothing else needs to finish.
    process.exit(1);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
});
