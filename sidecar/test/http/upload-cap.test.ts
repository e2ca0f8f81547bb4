/**
 * The home's cap holds at the front door however an upload is framed: with
 * a Content-Length it is refused before any byte goes on; sent chunked (no
 * length known in advance) it is counted as it arrives and cut at the cap,
 * with the same 413 and message, and nothing is written.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Sidecar, startSidecar, tokenHeader } from '../support/sidecar';

const CAP = 200_000;

let sidecar: Sidecar;

before(async () => {
  sidecar = await startSidecar({ config: { home: { cap_bytes: CAP }, snapshots: { schedule_minutes: 0 } } });
});

after(async () => {
  await sidecar?.stop();
});

/** A Contents API upload of `bytes` of file, sent in pieces with chunked framing (or with a length). */
function upload(name: string, bytes: number, framing: 'chunked' | 'length'): Promise<{ status: number; body: Record<string, unknown> }> {
  const json = Buffer.from(JSON.stringify({ type: 'file', format: 'base64', content: Buffer.alloc(bytes, 7).toString('base64') }));
  const url = new URL(sidecar.url(`api/contents/${name}`));
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...tokenHeader(sidecar), 'content-type': 'application/json' };
    if (framing === 'length') {
      headers['content-length'] = String(json.length);
    }
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'PUT', headers }, res => {
      let text = '';
      res.on('data', d => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text || '{}') as Record<string, unknown> }));
    });
    req.on('error', reject);
    for (let at = 0; at < json.length; at += 16 * 1024) {
      req.write(json.subarray(at, at + 16 * 1024));
    }
    req.end();
  });
}

describe('the home cap at the front door', () => {
  for (const framing of ['chunked', 'length'] as const) {
    test(`a 400 kB upload sent with ${framing === 'chunked' ? 'chunked framing' : 'a Content-Length'} is refused with 413 and writes nothing`, async () => {
      const name = `too-big-${framing}.bin`;
      const res = await upload(name, 400_000, framing);
      assert.equal(res.status, 413, JSON.stringify(res.body));
      assert.equal(res.body.code, 'too_large');
      assert.match(String(res.body.message), /over its 200 kB cap/);
      assert.ok(!fs.existsSync(path.join(sidecar.dirs.home, name)), 'the refused upload was written');
    });
  }

  test('a small chunked upload goes through whole', async () => {
    const res = await upload('small.bin', 20_000, 'chunked');
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(fs.statSync(path.join(sidecar.dirs.home, 'small.bin')).size, 20_000);
  });
});

describe("JupyterLab's chunked uploads while the meter measures the home between chunks", () => {
  let big: Sidecar;
  before(async () => {
    big = await startSidecar({ config: { home: { cap_bytes: 8_000_000 }, snapshots: { schedule_minutes: 0 } } });
  });
  after(async () => {
    await big?.stop();
  });

  test('the chunks still add up: the one that would cross the cap is refused', async () => {
    // JupyterLab sends a large file in 1 MiB chunks, and its meter asks for the home's usage after each change.
    const chunk = Buffer.alloc(1024 * 1024, 3).toString('base64');
    const statuses: number[] = [];
    for (let i = 1; i <= 10; i++) {
      const res = await fetch(big.url('api/contents/chunked.bin'), {
        method: 'PUT',
        headers: { ...tokenHeader(big), 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'file', format: 'base64', content: chunk, chunk: i === 10 ? -1 : i })
      });
      await res.arrayBuffer();
      statuses.push(res.status);
      await (await fetch(big.apiUrl('home/usage'), { headers: tokenHeader(big) })).arrayBuffer();
    }
    assert.deepEqual(statuses, [201, 200, 200, 200, 200, 200, 200, 413, 413, 413]);
    assert.ok(fs.statSync(path.join(big.dirs.home, 'chunked.bin')).size <= 8_000_000);
  });
});
