/**
 * A file deleted in JupyterLab frees its space at once. A student at the cap
 * does exactly this: deletes the big file. Jupyter's default would move it
 * into a Trash inside the capped home (or, without a notebook user, into the
 * sidecar user's own home, where no cap, snapshot or reset sees it); the
 * managed Jupyter deletes for real, so the meter, snapshots and Reset Data
 * work again straight away.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dirsForUser, ensureAccount, NEEDS_ROOT } from '../support/notebookUser';
import { fetchJson, runInNewKernel, Sidecar, startSidecar, TempDirs, tokenHeader } from '../support/sidecar';

const USER = 'gpuws-notebook';
const CAP = 200_000;

/** The sidecar API as the workspace's user calls it. */
function apiOf(sidecar: () => Sidecar) {
  return (route: string, method = 'GET', body?: unknown) =>
    fetchJson<Record<string, unknown>>(sidecar().apiUrl(route), {
      method,
      headers: { ...tokenHeader(sidecar()), 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body)
    });
}

describe('a file deleted through the Contents API frees the home at once', { skip: NEEDS_ROOT }, () => {
  let dirs: TempDirs;
  let sidecar: Sidecar;

  before(async () => {
    ensureAccount(USER);
    dirs = dirsForUser();
    sidecar = await startSidecar({ dirs, config: { jupyter: { user: USER }, home: { cap_bytes: CAP }, snapshots: { schedule_minutes: 0 } } });
  });

  after(async () => {
    await sidecar?.stop();
    dirs?.remove();
  });

  const api = apiOf(() => sidecar);

  test('over the cap snapshots and Reset Data refuse; after deleting the big file the meter, a snapshot and a reset work', async () => {
    // A kernel's output can take the home over its cap (the front door only guards uploads).
    await runInNewKernel(sidecar, "open('results.bin', 'wb').write(b'r' * 300_000)");
    const over = await api('home/usage');
    assert.ok(Number(over.body.used_bytes) > CAP, JSON.stringify(over.body));
    assert.equal((await api('snapshots', 'POST', {})).status, 409);
    const refused = await api('reset', 'POST', { confirm: 'Reset data' });
    assert.notEqual(refused.status, 200, 'a reset went ahead without the snapshot that makes it undoable');

    const deleted = await fetch(sidecar.url('api/contents/results.bin'), { method: 'DELETE', headers: tokenHeader(sidecar) });
    assert.equal(deleted.status, 204);
    assert.ok(!fs.existsSync(path.join(dirs.home, '.local', 'share', 'Trash', 'files', 'results.bin')), 'the file went to a Trash in the home');

    const usage = await api('home/usage');
    assert.ok(Number(usage.body.used_bytes) < CAP, `the meter still says ${usage.body.used_bytes} bytes`);
    const snapshot = await api('snapshots', 'POST', {});
    assert.equal(snapshot.status, 201, JSON.stringify(snapshot.body));
    const reset = await api('reset', 'POST', { confirm: 'Reset data' });
    assert.equal(reset.status, 200, JSON.stringify(reset.body));
  });

  test('the usage shows no Trash, and there is none to empty', async () => {
    assert.equal((await api('home/usage')).body.trash, null);
    const empty = await api('home/trash/empty', 'POST', {});
    assert.equal(empty.status, 404);
    assert.match(String(empty.body.message), /no Trash here/);
  });
});

describe('where the operator keeps a Trash (home.trash), it counts, is named, and empties', { skip: NEEDS_ROOT }, () => {
  let dirs: TempDirs;
  let sidecar: Sidecar;

  before(async () => {
    ensureAccount(USER);
    dirs = dirsForUser();
    sidecar = await startSidecar({ dirs, config: { jupyter: { user: USER }, home: { cap_bytes: CAP, trash: true }, snapshots: { schedule_minutes: 0 } } });
  });

  after(async () => {
    await sidecar?.stop();
    dirs?.remove();
  });

  const api = apiOf(() => sidecar);

  test('a deleted file waits in the Trash, the refusals name it, and Empty Trash frees the home', async () => {
    await runInNewKernel(sidecar, "open('results.bin', 'wb').write(b'r' * 300_000)");
    const deleted = await fetch(sidecar.url('api/contents/results.bin'), { method: 'DELETE', headers: tokenHeader(sidecar) });
    assert.equal(deleted.status, 204);
    const usage = await api('home/usage');
    const trash = usage.body.trash as { path: string; bytes: number };
    assert.equal(trash.path, '.local/share/Trash');
    assert.ok(trash.bytes >= 300_000, JSON.stringify(usage.body));
    assert.ok(Number(usage.body.used_bytes) > CAP, 'the Trash does not count');
    const refused = await api('snapshots', 'POST', {});
    assert.equal(refused.status, 409);
    assert.match(String(refused.body.message), /Deleted files in the Trash hold 3\d\d kB: Workspace → Snapshots… empties it/);

    const emptied = await api('home/trash/empty', 'POST', {});
    assert.equal(emptied.status, 200, JSON.stringify(emptied.body));
    assert.ok(Number(emptied.body.freed_bytes) >= 300_000);
    const after = emptied.body.usage as { used_bytes: number; trash: { bytes: number } };
    assert.ok(after.used_bytes < CAP);
    assert.ok(after.trash.bytes <= 8192, `the Trash still holds ${after.trash.bytes} bytes (its empty folder alone is 4 kB)`);
    assert.equal((await api('snapshots', 'POST', {})).status, 201);
  });
});
