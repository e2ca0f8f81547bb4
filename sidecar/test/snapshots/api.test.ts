/**
 * Home usage, snapshots and restores through the real sidecar (real Jupyter,
 * real restic): the contract's routes, the cap at the edge (413 uploads,
 * over-cap refusals naming the offenders), bad input, and a sidecar killed
 * in the middle of a restore.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { HomeUsageResponse, OverCapBody, SnapshotCreated, SnapshotFilesResponse, SnapshotListResponse } from '@jupyterlab-gpu-workspace/api';
import { fetchJson, makeTempDirs, REPO_ROOT, Sidecar, SIDECAR_DIR, startSidecar, TempDirs, tokenHeader, waitFor } from '../support/sidecar';

const CAP = 5_000_000;
const CONFIG = { home: { cap_bytes: CAP }, snapshots: { schedule_minutes: 0 } };

function post<T>(sidecar: Sidecar, route: string, body: unknown): Promise<{ status: number; body: T }> {
  return fetchJson<T>(sidecar.apiUrl(route), {
    method: 'POST',
    headers: { ...tokenHeader(sidecar), 'content-type': 'application/json' },
    body: JSON.stringify(body)
  });
}

function get<T>(sidecar: Sidecar, route: string): Promise<{ status: number; body: T }> {
  return fetchJson<T>(sidecar.apiUrl(route), { headers: tokenHeader(sidecar) });
}

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(SIDECAR_DIR, 'bin', 'gpu-workspace.js'), ...args], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('snapshots API', () => {
  let dirs: TempDirs;
  let sidecar: Sidecar;

  before(async () => {
    dirs = makeTempDirs();
    fs.mkdirSync(path.join(dirs.home, 'notebooks'));
    fs.writeFileSync(path.join(dirs.home, 'notebooks/analysis.ipynb'), '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}');
    fs.writeFileSync(path.join(dirs.home, 'weights.bin'), Buffer.alloc(1_000_000, 1));
    sidecar = await startSidecar({ config: CONFIG, dirs });
  });

  after(async () => {
    await sidecar?.stop();
    dirs.remove();
  });

  test('GET home/usage shows the size of the home, the cap and what uses the space', async () => {
    const { status, body } = await get<HomeUsageResponse>(sidecar, 'home/usage');
    assert.equal(status, 200);
    assert.equal(body.cap_bytes, CAP);
    assert.ok(body.used_bytes >= 1_000_000 && body.used_bytes < 1_100_000, String(body.used_bytes));
    assert.deepEqual(body.largest[0], { path: 'weights.bin', bytes: 1_000_000, kind: 'file' });
  });

  test('POST snapshots takes a manual snapshot, listed first by GET snapshots', async () => {
    const created = await post<SnapshotCreated>(sidecar, 'snapshots', {});
    assert.equal(created.status, 201);
    assert.match(created.body.id, /^[0-9a-f]{8}$/);
    const list = await get<SnapshotListResponse>(sidecar, 'snapshots');
    assert.equal(list.status, 200);
    assert.equal(list.body.available, true);
    assert.equal(list.body.snapshots[0].id, created.body.id);
    assert.equal(list.body.snapshots[0].trigger, 'manual');
    assert.ok((list.body.snapshots[0].size_bytes ?? 0) >= 1_000_000);
  });

  test('two snapshot requests at once are both served, one after the other', async () => {
    const [a, b] = await Promise.all([post<SnapshotCreated>(sidecar, 'snapshots', {}), post<SnapshotCreated>(sidecar, 'snapshots', {})]);
    assert.deepEqual([a.status, b.status], [201, 201]);
    assert.notEqual(a.body.id, b.body.id);
    const times = [a.body.snapshot.time, b.body.snapshot.time].map(Date.parse).sort();
    assert.ok(times[1] > times[0]);
  });

  test('a deleted notebook is browsed in a snapshot and restored to its own path, then beside it', async () => {
    const [latest] = (await get<SnapshotListResponse>(sidecar, 'snapshots')).body.snapshots;
    const files = await get<SnapshotFilesResponse>(sidecar, `snapshots/${latest.id}/files?path=notebooks`);
    assert.equal(files.status, 200);
    assert.deepEqual(
      files.body.entries.map(e => [e.path, e.type]),
      [['notebooks/analysis.ipynb', 'file']]
    );
    fs.rmSync(path.join(dirs.home, 'notebooks/analysis.ipynb'));
    const first = await post<{ restored_to: string }>(sidecar, `snapshots/${latest.id}/restore`, { path: 'notebooks/analysis.ipynb' });
    assert.equal(first.status, 200);
    assert.deepEqual(first.body, { restored_to: 'notebooks/analysis.ipynb' });
    assert.match(fs.readFileSync(path.join(dirs.home, 'notebooks/analysis.ipynb'), 'utf8'), /nbformat/);
    const second = await post<{ restored_to: string }>(sidecar, `snapshots/${latest.id}/restore`, { path: 'notebooks/analysis.ipynb' });
    assert.equal(second.status, 200);
    assert.match(second.body.restored_to, /^notebooks\/analysis \(restored .*\)\.ipynb$/);
    fs.rmSync(path.join(dirs.home, second.body.restored_to));
  });

  test('bad input: unknown ids 404, escaping paths and unknown fields 400', async () => {
    const [latest] = (await get<SnapshotListResponse>(sidecar, 'snapshots')).body.snapshots;
    assert.equal((await post(sidecar, 'snapshots/0123abcd/restore', { path: 'weights.bin' })).status, 404);
    assert.equal((await get(sidecar, 'snapshots/not-an-id/files')).status, 404);
    fs.symlinkSync(dirs.root, path.join(dirs.home, 'up'));
    try {
      for (const bad of ['../state/secrets', '/etc/passwd', 'up/notebooks/analysis.ipynb', 42]) {
        const r = await post<{ code: string }>(sidecar, `snapshots/${latest.id}/restore`, { path: bad });
        assert.equal(r.status, 400, JSON.stringify(bad));
        assert.equal(r.body.code, 'bad_request');
      }
    } finally {
      fs.rmSync(path.join(dirs.home, 'up'));
    }
    assert.equal((await post(sidecar, 'snapshots', { trigger: 'schedule' })).status, 400);
    assert.equal((await get(sidecar, `snapshots/${latest.id}/files?path=../..`)).status, 400);
  });

  test('an upload that would cross the cap is refused at the front door with 413 and a message', async () => {
    const upload = (bytes: number): Promise<{ status: number; body: { message?: string; code?: string } }> =>
      fetchJson(sidecar.url('api/contents/upload.bin'), {
        method: 'PUT',
        headers: { ...tokenHeader(sidecar), 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'file', format: 'base64', content: Buffer.alloc(bytes).toString('base64') })
      });
    const refused = await upload(CAP);
    assert.equal(refused.status, 413);
    assert.equal(refused.body.code, 'too_large');
    assert.match(refused.body.message ?? '', /over its 5.00 MB cap/);
    assert.ok(!fs.existsSync(path.join(dirs.home, 'upload.bin')));
    const small = await upload(10_000);
    assert.equal(small.status, 201);
    fs.rmSync(path.join(dirs.home, 'upload.bin'));
  });

  test('over the cap, a snapshot is refused with the largest folders and files', async () => {
    fs.mkdirSync(path.join(dirs.home, 'datasets'));
    fs.writeFileSync(path.join(dirs.home, 'datasets/huge.csv'), Buffer.alloc(CAP, 2));
    try {
      const r = await post<OverCapBody>(sidecar, 'snapshots', {});
      assert.equal(r.status, 409);
      assert.equal(r.body.code, 'over_cap');
      assert.match(r.body.message, /over its 5.00 MB cap/);
      assert.deepEqual(
        r.body.largest.slice(0, 3).map(l => l.path),
        ['datasets', 'datasets/huge.csv', 'weights.bin']
      );
    } finally {
      fs.rmSync(path.join(dirs.home, 'datasets'), { recursive: true });
    }
  });

  test('GET home/archive streams the home as a zip', async () => {
    const res = await fetch(sidecar.apiUrl('home/archive'), { headers: tokenHeader(sidecar) });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/zip');
    const zip = Buffer.from(await res.arrayBuffer());
    assert.equal(zip.subarray(0, 2).toString(), 'PK');
    const listing = execFileSync('python3', ['-c', 'import sys,zipfile; print("\\n".join(sorted(zipfile.ZipFile(sys.argv[1]).namelist())))', writeTemp(dirs, zip)], {
      encoding: 'utf8'
    });
    assert.deepEqual(listing.trim().split('\n'), ['notebooks/analysis.ipynb', 'weights.bin']);
  });

  test('after the sidecar is killed mid-restore, the next snapshot succeeds and the repository checks clean', async () => {
    execFileSync('dd', ['if=/dev/urandom', `of=${path.join(dirs.home, 'noise.bin')}`, 'bs=1M', 'count=2', 'status=none']);
    const big = await post<SnapshotCreated>(sidecar, 'snapshots', {});
    assert.equal(big.status, 201);
    fs.rmSync(path.join(dirs.home, 'noise.bin'));
    const pending = post(sidecar, `snapshots/${big.body.id}/restore-home`, {}).catch(() => null);
    await waitFor(
      'restic restore to run',
      () => {
        const children = spawnSync('pgrep', ['-a', '-P', String(sidecar.pid), 'restic'], { encoding: 'utf8' }).stdout;
        return children.includes('restore') ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 5 }
    );
    await sidecar.signalAndWait('SIGKILL', 10_000);
    await pending;
    sidecar = await startSidecar({ config: CONFIG, dirs });
    const next = await post<SnapshotCreated>(sidecar, 'snapshots', {});
    assert.equal(next.status, 201, JSON.stringify(next.body));
    const check = cli(['snapshot', 'check', '--state-dir', dirs.stateDir]);
    assert.equal(check.status, 0, check.stderr + check.stdout);
    assert.match(check.stdout, /no errors were found/);
  });
});

function writeTemp(dirs: TempDirs, data: Buffer): string {
  const file = path.join(dirs.root, 'home.zip');
  fs.writeFileSync(file, data);
  return file;
}

describe('snapshot command line', () => {
  test('check fails with a message, not a stack, when the state directory has no repository', () => {
    const dirs = makeTempDirs();
    try {
      const r = cli(['snapshot', 'check', '--state-dir', dirs.stateDir, '--home', dirs.home]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /no snapshot repository/);
      assert.doesNotMatch(r.stderr, /at .*\.js:\d+/);
    } finally {
      dirs.remove();
    }
  });
});
