/**
 * The upload guard on its own: which Contents API requests it refuses, and
 * that chunked uploads (JupyterLab sends files over 1 MB in 1 MB chunks) add
 * up until the home is measured again, without counting twice a chunk that a
 * measurement taken while it was written may hold.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { WorkspaceError } from '../../src/errors';
import { createUploadGuard } from '../../src/http/uploadGuard';

const req = (method: string, url: string, length?: number): http.IncomingMessage =>
  ({ method, url, headers: length === undefined ? {} : { 'content-length': String(length) } }) as unknown as http.IncomingMessage;

/** A base64 JSON body for `bytes` of file. */
const body = (bytes: number): number => Math.ceil((bytes * 4) / 3) + 100;
/** JupyterLab's upload chunk: 1 MiB of file. */
const CHUNK = 1024 * 1024;

describe('upload guard', () => {
  let usage = { bytes: 1_000_000, at: 0, until: 0 };
  let clock = 10;
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'upload-guard-'));
  const guard = createUploadGuard({ contentsPrefix: '/user/a/api/contents/', capBytes: 8_000_000, home, usage: () => usage, now: () => clock });
  /**
   * The refusal the guard answers with at once, or null when the request goes
   * on; one that goes on is then written whole, as Jupyter would answer it.
   */
  const refusal = (r: http.IncomingMessage): WorkspaceError | null => {
    const verdict = guard(r);
    if (verdict && 'admitted' in verdict) {
      verdict.admitted.settle(true, Number(r.headers['content-length']));
    }
    return verdict && 'refuse' in verdict ? verdict.refuse : null;
  };

  test('lets through what fits, and anything that is not a Contents API PUT', () => {
    assert.equal(refusal(req('PUT', '/user/a/api/contents/x.bin', body(1_000_000))), null);
    assert.equal(refusal(req('POST', '/user/a/api/contents/x.bin', body(50_000_000))), null);
    assert.equal(refusal(req('PUT', '/user/a/api/kernels/x', body(50_000_000))), null);
  });

  test('refuses with 413 what would cross the cap, saying how much is left', () => {
    const err = refusal(req('PUT', '/user/a/api/contents/big.bin', body(7_500_000)));
    assert.equal(err?.status, 413);
    assert.equal(err?.code, 'too_large');
    assert.match(err?.message ?? '', /over its 8.00 MB cap: 6.00 MB is left/);
  });

  test('chunks let through since the last measurement count until the next one', () => {
    usage = { bytes: 1_000_000, at: 100, until: 100 };
    clock = 200;
    for (let i = 0; i < 6; i++) {
      assert.equal(refusal(req('PUT', '/user/a/api/contents/c.bin', body(1_000_000))), null, `chunk ${i + 1}`);
    }
    assert.equal(refusal(req('PUT', '/user/a/api/contents/c.bin', body(1_000_000)))?.status, 413, 'the seventh chunk crosses 8 MB');
    // A measurement that began after those chunks counts them itself.
    usage = { bytes: 7_000_000, at: 300, until: 300 };
    assert.equal(refusal(req('PUT', '/user/a/api/contents/small.txt', body(900_000))), null);
  });

  test('a save over an existing file counts only what it adds: a full home never stops anyone saving their work', () => {
    fs.mkdirSync(path.join(home, 'my work'), { recursive: true });
    fs.writeFileSync(path.join(home, 'my work', 'thesis.ipynb'), Buffer.alloc(2_000_000));
    usage = { bytes: 7_900_000, at: 1000, until: 1000 };
    clock = 1001;
    assert.equal(refusal(req('PUT', '/user/a/api/contents/my%20work/thesis.ipynb', body(2_000_000))), null, 'the same size again');
    assert.equal(refusal(req('PUT', '/user/a/api/contents/my%20work/thesis.ipynb?x=1', body(2_050_000))), null, 'it grows by 50 kB: fits');
    const err = refusal(req('PUT', '/user/a/api/contents/my%20work/other.ipynb', body(2_000_000)));
    assert.equal(err?.status, 413, 'a new file of that size does not fit');
    assert.match(err?.message ?? '', /about 2.00 MB/);
    // Outside the home, or not a file: nothing to subtract.
    assert.equal(refusal(req('PUT', '/user/a/api/contents/..%2F..%2Fetc%2Fpasswd', body(2_000_000)))?.status, 413);
    assert.equal(refusal(req('PUT', '/user/a/api/contents/my%20work', body(2_000_000)))?.status, 413);
  });

  test('the next chunk of an upload counts in full, though the part already sent is on disk', () => {
    usage = { bytes: 4_500_000, at: 2000, until: 2000 };
    clock = 2001;
    const url = '/user/a/api/contents/upload.bin';
    assert.equal(refusal(req('PUT', url, body(CHUNK))), null, 'chunk 1');
    fs.writeFileSync(path.join(home, 'upload.bin'), Buffer.alloc(CHUNK));
    assert.equal(refusal(req('PUT', url, body(CHUNK))), null, 'chunk 2');
    fs.writeFileSync(path.join(home, 'upload.bin'), Buffer.alloc(2 * CHUNK));
    assert.equal(refusal(req('PUT', url, body(CHUNK))), null, 'chunk 3');
    fs.writeFileSync(path.join(home, 'upload.bin'), Buffer.alloc(3 * CHUNK));
    assert.equal(refusal(req('PUT', url, body(CHUNK)))?.status, 413, 'chunk 4 would cross 8 MB');
  });

  test('a body of unknown length (chunked) goes on with a limit: 4/3 of what is left, counted as it arrives', () => {
    usage = { bytes: 1_000_000, at: 5000, until: 5000 };
    clock = 5001;
    const verdict = guard(req('PUT', '/user/a/api/contents/chunked-transfer.bin'));
    assert.ok(verdict && 'admitted' in verdict && verdict.admitted.limit, JSON.stringify(verdict));
    const { limit } = verdict.admitted;
    assert.equal(limit.maxBodyBytes, Math.floor((7_000_000 * 4) / 3) + 1);
    assert.match(limit.overLimit().message, /over its 8.00 MB cap: 7.00 MB is left/);
    assert.equal(limit.overLimit().status, 413);
    // What went through counts like a declared upload until the next measurement.
    verdict.admitted.settle(true, body(3_000_000));
    assert.equal(refusal(req('PUT', '/user/a/api/contents/more.bin', body(4_500_000)))?.status, 413);
  });

  test('a small write goes through even at the cap: a new folder, a new notebook, a small file', () => {
    usage = { bytes: 9_000_000, at: 9000, until: 9000 };
    clock = 9001;
    assert.equal(refusal(req('PUT', '/user/a/api/contents/new-folder', 40)), null);
    assert.equal(refusal(req('PUT', '/user/a/api/contents/Untitled.ipynb', 300)), null);
    assert.equal(refusal(req('PUT', '/user/a/api/contents/notes.txt', 64 * 1024)), null);
    assert.equal(refusal(req('PUT', '/user/a/api/contents/data.bin', 64 * 1024 + 1))?.status, 413);
  });

  test('an upload under way counts in full until Jupyter answers; one it refused counts for nothing', () => {
    usage = { bytes: 1_000_000, at: 10_000, until: 10_000 };
    clock = 10_001;
    const first = guard(req('PUT', '/user/a/api/contents/one.bin', body(4_000_000)));
    assert.ok(first && 'admitted' in first);
    // Not written yet, and the home measured meanwhile: it still counts.
    usage = { bytes: 1_000_000, at: 10_002, until: 10_002 };
    assert.equal(refusal(req('PUT', '/user/a/api/contents/two.bin', body(4_000_000)))?.status, 413);
    first.admitted.settle(false, body(4_000_000));
    assert.equal(refusal(req('PUT', '/user/a/api/contents/three.bin', body(4_000_000))), null);
  });

  test('a measurement taken while a chunk was being written is not added to: the chunk is counted once, never twice', () => {
    usage = { bytes: 1_000_000, at: 20_000, until: 20_001 };
    clock = 20_010;
    const url = '/user/a/api/contents/overlap.bin';
    const first = guard(req('PUT', url, body(CHUNK)));
    assert.ok(first && 'admitted' in first);
    // The home is measured while Jupyter writes the chunk: this measurement happens to hold it.
    usage = { bytes: 1_000_000 + CHUNK, at: 20_011, until: 20_030 };
    clock = 20_020;
    first.admitted.settle(true, body(CHUNK));
    clock = 20_040;
    // 1 MB + 6 chunks (7.29 MB) fits under 8 MB; the seventh chunk (8.34 MB) does not.
    for (let i = 2; i <= 6; i++) {
      assert.equal(refusal(req('PUT', url, body(CHUNK))), null, `chunk ${i}`);
    }
    assert.equal(refusal(req('PUT', url, body(CHUNK)))?.status, 413, 'chunk 7 would cross 8 MB');
    // A measurement that began once nothing was being written is taken as it is.
    usage = { bytes: 1_000_000 + 6 * CHUNK, at: 20_050, until: 20_060 };
    clock = 20_070;
    assert.equal(refusal(req('PUT', '/user/a/api/contents/fits.bin', body(700_000))), null);
    assert.equal(refusal(req('PUT', '/user/a/api/contents/too-much.bin', body(300_000)))?.status, 413);
  });
});
