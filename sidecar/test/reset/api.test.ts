/**
 * Reset Data through the real sidecar (real Jupyter, real restic, real
 * SQLite): the typed confirmation checked server-side, the home replaced by
 * the template exactly, the pre-reset snapshot that undoes it, one reset at a
 * time, and a reset refused when it could not be undone.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ErrorBody, ResetResponse, ResetUndoResponse, SnapshotCreated, SnapshotListResponse } from '@jupyterlab-gpu-workspace/api';
import { fetchJson, getStatus, makeTempDirs, Sidecar, startKernel, startSidecar, TempDirs, tokenHeader, waitFor } from '../support/sidecar';
import { auditRows, courseHome, DEFAULT_EXCLUDES, get, listing, post, readJournal, resetStatus, userWork, write } from './support';

const CONFIG = { snapshots: { schedule_minutes: 0, before_gpu_switch: false } };
const CONFIRM = { confirm: 'Reset data' };

describe('Reset Data', () => {
  let dirs: TempDirs;
  let sidecar: Sidecar;
  /** The home as the workspace first started: the default template. */
  let clean: string[];

  before(async () => {
    dirs = makeTempDirs();
    courseHome(dirs.home);
    clean = listing(dirs.home);
    sidecar = await startSidecar({ config: CONFIG, dirs });
  });

  after(async () => {
    await sidecar?.stop();
    dirs?.remove();
  });

  test('the first start keeps the home as it was, as the default template', async () => {
    const status = await resetStatus(sidecar);
    assert.equal(status.template, 'first-start');
    assert.equal(status.available, true, String(status.reason));
    assert.deepEqual(listing(path.join(dirs.stateDir, 'reset', 'template')), clean);
  });

  test('any confirmation but exactly "Reset data" is refused with 400 saying what to type, and nothing changes', async () => {
    userWork(dirs.home);
    const before = listing(dirs.home);
    const bodies: Array<[string, unknown, boolean?]> = [
      ['no body at all', '', true],
      ['an empty object', {}],
      ['lower case', { confirm: 'reset data' }],
      ['a trailing space', { confirm: 'Reset data ' }],
      ['another phrase', { confirm: 'Yes' }],
      ['a number', { confirm: 1 }],
      ['null', { confirm: null }],
      ['an array', ['Reset data']],
      ['the right words beside an extra field', { confirm: 'Reset data', force: true }]
    ];
    for (const [what, body, raw] of bodies) {
      const res = await post<ErrorBody>(sidecar, 'reset', body, raw);
      assert.equal(res.status, 400, what);
      assert.equal(res.body.code, 'bad_request', what);
      assert.match(res.body.message, /"Reset data"/, what);
    }
    assert.deepEqual(listing(dirs.home), before);
    const snapshots = await get<SnapshotListResponse>(sidecar, 'snapshots');
    assert.deepEqual(snapshots.body.snapshots.filter(s => s.trigger === 'pre-reset'), []);
    assert.equal(readJournal(dirs.stateDir), null);
    assert.equal((await resetStatus(sidecar)).last, null);
  });

  test('a reset replaces the home with the template exactly, keeps caches, restarts Jupyter and ends its kernels', async () => {
    userWork(dirs.home);
    const generation = (await getStatus(sidecar)).jupyter.generation;
    const kernel = await startKernel(sidecar);

    const res = await post<ResetResponse>(sidecar, 'reset', CONFIRM);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.match(res.body.snapshot_id, /^[0-9a-f]{8}$/);
    assert.equal(res.body.template, 'first-start');
    assert.equal(res.body.hook, null);

    // Exactly the template; the excluded cache stays as it was.
    assert.deepEqual(listing(dirs.home, { excludes: ['.cache'] }), clean);
    assert.equal(fs.readFileSync(path.join(dirs.home, '.cache/pip/wheel.bin')).length, 1000);
    const status = await getStatus(sidecar);
    assert.equal(status.jupyter.state, 'running');
    assert.ok(status.jupyter.generation > generation);
    const kernels = await fetchJson<Array<{ id: string }>>(sidecar.url('api/kernels'), { headers: tokenHeader(sidecar) });
    assert.ok(!kernels.body.some(k => k.id === kernel), 'the kernel of before the reset is gone');

    const last = (await resetStatus(sidecar)).last;
    assert.equal(last?.outcome, 'succeeded');
    assert.equal(last?.phase, 'done');
    assert.equal(last?.recovered, null);
    assert.equal(last?.snapshot_id, res.body.snapshot_id);
    const rows = auditRows(dirs.stateDir, 'reset');
    assert.equal(rows.at(-1)?.detail.snapshot_id, res.body.snapshot_id);
    assert.equal(rows.at(-1)?.detail.outcome, 'succeeded');
    // The staging and the old entries set aside are removed (after the answer).
    await waitFor('the reset staging removed', () => (fs.readdirSync(path.join(dirs.stateDir, 'reset')).some(n => n.startsWith('r-')) ? undefined : true));
  });

  test('the pre-reset snapshot is in the list, and undo brings back exactly the files of before the reset', async () => {
    userWork(dirs.home);
    write(dirs.home, 'my-work/deep/nested/file.bin', Buffer.alloc(50_000, 3));
    fs.symlinkSync('../README.md', path.join(dirs.home, 'my-work/link'));
    fs.chmodSync(path.join(dirs.home, 'my-work/results.txt'), 0o600);
    const before = listing(dirs.home, { excludes: DEFAULT_EXCLUDES });

    const reset = await post<ResetResponse>(sidecar, 'reset', CONFIRM);
    assert.equal(reset.status, 200, JSON.stringify(reset.body));
    assert.deepEqual(listing(dirs.home, { excludes: ['.cache'] }), clean);
    const list = await get<SnapshotListResponse>(sidecar, 'snapshots');
    assert.equal(list.body.snapshots.find(s => s.id === reset.body.snapshot_id)?.trigger, 'pre-reset');

    const undo = await post<ResetUndoResponse>(sidecar, 'reset/undo', { snapshot_id: reset.body.snapshot_id });
    assert.equal(undo.status, 200, JSON.stringify(undo.body));
    assert.equal(undo.body.snapshot_id, reset.body.snapshot_id);
    assert.deepEqual(listing(dirs.home, { excludes: DEFAULT_EXCLUDES }), before);
    const row = auditRows(dirs.stateDir, 'reset-undo').at(-1);
    assert.equal(row?.detail.snapshot_id, reset.body.snapshot_id);
    assert.equal(row?.detail.outcome, 'succeeded');
    assert.equal(row?.detail.undo_snapshot, undo.body.undo_snapshot);
  });

  test('undo takes only a pre-reset snapshot, and says so for another or a malformed id', async () => {
    const manual = await post<SnapshotCreated>(sidecar, 'snapshots', {});
    assert.equal(manual.status, 201);
    const before = listing(dirs.home);
    const other = await post<ErrorBody>(sidecar, 'reset/undo', { snapshot_id: manual.body.id });
    assert.equal(other.status, 400);
    assert.match(other.body.message, /not taken before a reset/);
    for (const body of [{}, { snapshot_id: 'nothex!' }, { snapshot_id: 12345678 }, { snapshot_id: manual.body.id, extra: 1 }]) {
      const res = await post<ErrorBody>(sidecar, 'reset/undo', body);
      assert.equal(res.status, 400, JSON.stringify(body));
    }
    const missing = await post<ErrorBody>(sidecar, 'reset/undo', { snapshot_id: 'deadbeef' });
    assert.equal(missing.status, 404);
    assert.deepEqual(listing(dirs.home), before);
  });

  test('two resets at once: one runs, the other is refused as busy', async () => {
    userWork(dirs.home);
    const [a, b] = await Promise.all([post<ResetResponse | ErrorBody>(sidecar, 'reset', CONFIRM), post<ResetResponse | ErrorBody>(sidecar, 'reset', CONFIRM)]);
    assert.deepEqual([a.status, b.status].sort(), [200, 409]);
    const refused = (a.status === 409 ? a : b).body as ErrorBody;
    assert.equal(refused.code, 'busy');
    assert.deepEqual(listing(dirs.home, { excludes: ['.cache'] }), clean);
    assert.equal((await getStatus(sidecar)).jupyter.state, 'running');
  });
});

describe('Reset Data with an operator template and a home over its cap', () => {
  let dirs: TempDirs;
  let sidecar: Sidecar;
  let template: string;

  before(async () => {
    dirs = makeTempDirs();
    template = path.join(dirs.root, 'course-template');
    courseHome(template);
    write(template, 'extra/solution-sheet.md', 'Only in the operator template\n');
    write(dirs.home, 'own.txt', 'the user was here first\n');
    sidecar = await startSidecar({ dirs, config: { ...CONFIG, home: { cap_bytes: 200_000 }, reset: { template_dir: template } } });
  });

  after(async () => {
    await sidecar?.stop();
    dirs?.remove();
  });

  test('a reset refused because its snapshot cannot be taken (home over the cap) changes nothing', async () => {
    write(dirs.home, 'big.bin', Buffer.alloc(300_000, 1));
    const before = listing(dirs.home);
    const generation = (await getStatus(sidecar)).jupyter.generation;
    const res = await post<ErrorBody>(sidecar, 'reset', CONFIRM);
    assert.equal(res.status, 503);
    assert.equal(res.body.code, 'snapshots_unavailable');
    assert.match(res.body.message, /Nothing was reset.*cap/s);
    assert.deepEqual(listing(dirs.home), before);
    assert.equal((await getStatus(sidecar)).jupyter.generation, generation, 'Jupyter was not stopped');
    assert.equal(auditRows(dirs.stateDir, 'reset').at(-1)?.detail.outcome, 'refused');
    fs.rmSync(path.join(dirs.home, 'big.bin'));
  });

  test('the operator template replaces the home, whatever the home held at the first start', async () => {
    assert.equal((await resetStatus(sidecar)).template, 'operator');
    const res = await post<ResetResponse>(sidecar, 'reset', CONFIRM);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.template, 'operator');
    assert.deepEqual(listing(dirs.home), listing(template));
    assert.ok(!fs.existsSync(path.join(dirs.stateDir, 'reset', 'template')), 'no first-start copy is kept when the operator gives one');
  });
});
