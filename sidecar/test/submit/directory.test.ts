/**
 * Submit Project into an exchange folder, against a real sidecar, real
 * Jupyter (nbconvert), real restic and real SQLite: the checklist, the
 * refusals (missing files, oversize, a second submit at once), the archive's
 * sums against the receipt, links left out, and receipts after a restart.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type {
  SnapshotListResponse,
  SubmissionIncompleteBody,
  SubmissionListResponse,
  SubmissionReceipt,
  SubmissionTooLargeBody,
  SubmitChecklist
} from '@jupyterlab-gpu-workspace/api';
import { fetchJson, makeTempDirs, Sidecar, startSidecar, TempDirs, tokenHeader } from '../support/sidecar';
import { auditRows, notebook, receiptSums, sha256, unzipAndHash, writeHomeFile } from '../support/submit';

const MAX_BYTES = 3_000_000;

let dirs: TempDirs;
let exchange: string;
let sidecar: Sidecar;

function config(): Record<string, unknown> {
  return {
    snapshots: { schedule_minutes: 0 },
    submit: {
      enabled: true,
      required: ['project.ipynb', 'data/*.csv'],
      conversions: [{ from: 'project.ipynb', to: 'html' }],
      max_bytes: MAX_BYTES,
      destination: { type: 'directory', path: exchange }
    }
  };
}

before(async () => {
  dirs = makeTempDirs();
  exchange = path.join(dirs.root, 'exchange');
  fs.mkdirSync(exchange);
  sidecar = await startSidecar({ dirs, config: config() });
});

after(async () => {
  await sidecar?.stop();
  dirs?.remove();
});

const checklist = async (): Promise<SubmitChecklist> => {
  const res = await fetchJson<SubmitChecklist>(sidecar.apiUrl('submit'), { headers: tokenHeader(sidecar) });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
};

const submit = <T = SubmissionReceipt>(): Promise<{ status: number; body: T }> =>
  fetchJson<T>(sidecar.apiUrl('submit'), {
    method: 'POST',
    headers: { ...tokenHeader(sidecar), 'content-type': 'application/json' },
    body: '{}',
    signal: AbortSignal.timeout(120_000)
  });

const writeProject = (): void => {
  writeHomeFile(dirs.home, 'project.ipynb', notebook('Hello from the project'));
  writeHomeFile(dirs.home, 'data/a.csv', 'x,y\n1,2\n');
  writeHomeFile(dirs.home, 'data/b.csv', 'x,y\n3,4\n');
};

describe('submitting into an exchange folder', () => {
  test('with required files missing, the checklist shows them missing and a submit is refused with the list', async () => {
    const list = await checklist();
    assert.equal(list.enabled, true);
    assert.equal(list.ready, false);
    assert.deepEqual(
      list.items.map(i => [i.path, i.present]),
      [
        ['project.ipynb', false],
        ['data/*.csv', false]
      ]
    );
    assert.deepEqual(list.conversions.map(c => [c.from, c.ready]), [['project.ipynb', false]]);

    const res = await submit<SubmissionIncompleteBody>();
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.equal(res.body.code, 'submission_incomplete');
    assert.deepEqual(res.body.missing, ['project.ipynb', 'data/*.csv']);
    assert.match(res.body.message, /project\.ipynb, data\/\*\.csv/);
    assert.deepEqual(fs.readdirSync(exchange), []);
    const history = await fetchJson<SubmissionListResponse>(sidecar.apiUrl('submissions'), { headers: tokenHeader(sidecar) });
    assert.deepEqual(history.body.submissions, []);
  });

  test('a complete project lands in the exchange folder as a zip whose files match the receipt\'s sums', async () => {
    writeProject();
    const list = await checklist();
    assert.equal(list.ready, true, list.reason ?? '');
    assert.deepEqual(list.items[1].files.map(f => f.path), ['data/a.csv', 'data/b.csv']);
    assert.deepEqual(list.conversions[0].outputs, ['project.html']);

    const res = await submit();
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const receipt = res.body;
    assert.equal(receipt.outcome, 'delivered');
    assert.equal(receipt.attempts, 1);
    assert.deepEqual(receipt.files.map(f => [f.path, f.source]), [
      ['data/a.csv', 'home'],
      ['data/b.csv', 'home'],
      ['project.html', 'conversion'],
      ['project.ipynb', 'home']
    ]);
    assert.deepEqual(fs.readdirSync(exchange), [receipt.archive_name]);
    const zip = path.join(exchange, receipt.archive_name);
    assert.equal(receipt.destination.detail, zip);
    const bytes = fs.readFileSync(zip);
    assert.equal(sha256(bytes), receipt.archive_sha256);
    assert.equal(bytes.length, receipt.bytes);

    const inZip = unzipAndHash(zip, path.join(dirs.root, 'unzipped'));
    const expected = receiptSums(receipt);
    assert.deepEqual([...inZip.keys()].sort(), [...expected.keys(), 'MANIFEST.json', 'manifest.sha256'].sort());
    for (const [rel, sums] of expected) {
      assert.deepEqual(inZip.get(rel), sums, rel);
    }
    // The home's files are the very bytes the user wrote; the HTML is nbconvert's rendering of the notebook.
    assert.equal(expected.get('data/a.csv')?.sha256, sha256('x,y\n1,2\n'));
    const html = fs.readFileSync(path.join(dirs.root, 'unzipped', 'project.html'), 'utf8');
    assert.match(html, /<html/i);
    assert.match(html, /Hello from the project/);
    const manifest = JSON.parse(fs.readFileSync(path.join(dirs.root, 'unzipped', 'MANIFEST.json'), 'utf8')) as { id: string; files: unknown };
    assert.equal(manifest.id, receipt.id);
    assert.deepEqual(manifest.files, receipt.files);
    // The home is not changed by the conversion.
    assert.equal(fs.existsSync(path.join(dirs.home, 'project.html')), false);

    // Delivered: the state directory keeps no copy; a pre-submit snapshot holds the home as submitted.
    assert.equal(receipt.archive_kept, false);
    assert.equal(fs.existsSync(path.join(dirs.stateDir, 'submissions', `${receipt.id}.zip`)), false);
    assert.ok(receipt.snapshot_id, receipt.snapshot_note ?? 'no snapshot');
    const snapshots = await fetchJson<SnapshotListResponse>(sidecar.apiUrl('snapshots'), { headers: tokenHeader(sidecar) });
    assert.equal(snapshots.body.snapshots.find(s => s.id === receipt.snapshot_id)?.trigger, 'pre-submit');

    const history = await fetchJson<SubmissionListResponse>(sidecar.apiUrl('submissions'), { headers: tokenHeader(sidecar) });
    assert.deepEqual(history.body.submissions[0], receipt);
    const audit = auditRows(dirs.stateDir, 'submit');
    assert.equal(audit.at(-1)?.detail.id, receipt.id);
    assert.equal(audit.at(-1)?.detail.outcome, 'delivered');
  });

  test('a symbolic link to a file outside the home is not followed into the archive', async () => {
    writeProject();
    const outside = path.join(dirs.root, 'outside-secret.csv');
    fs.writeFileSync(outside, 'not yours\n');
    fs.symlinkSync(outside, path.join(dirs.home, 'data', 'leak.csv'));
    try {
      const list = await checklist();
      const skipped = list.items[1].skipped.find(s => s.path === 'data/leak.csv');
      assert.match(skipped?.reason ?? '', /outside the home folder: not followed/);
      assert.ok(!list.items[1].files.some(f => f.path === 'data/leak.csv'));

      const res = await submit();
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.ok(!res.body.files.some(f => f.path === 'data/leak.csv'));
      assert.ok(res.body.skipped.some(s => s.path === 'data/leak.csv'));
      const inZip = unzipAndHash(path.join(exchange, res.body.archive_name), path.join(dirs.root, 'unzipped'));
      assert.equal(inZip.has('data/leak.csv'), false);
      assert.ok(![...inZip.values()].some(v => v.sha256 === sha256('not yours\n')));
    } finally {
      fs.rmSync(path.join(dirs.home, 'data', 'leak.csv'));
    }
  });

  test('an oversize submission is refused with 413, naming the largest files', async () => {
    writeProject();
    writeHomeFile(dirs.home, 'data/huge.csv', Buffer.alloc(MAX_BYTES, 'x'));
    try {
      const list = await checklist();
      assert.equal(list.ready, false);
      assert.ok(list.total_bytes > MAX_BYTES);
      assert.match(list.reason ?? '', /over the 3\.00 MB limit/);
      const before = fs.readdirSync(exchange).length;
      const res = await submit<SubmissionTooLargeBody>();
      assert.equal(res.status, 413, JSON.stringify(res.body));
      assert.equal(res.body.code, 'too_large');
      assert.equal(res.body.max_bytes, MAX_BYTES);
      assert.equal(res.body.largest[0].path, 'data/huge.csv');
      assert.match(res.body.message, /data\/huge\.csv/);
      assert.equal(fs.readdirSync(exchange).length, before);
    } finally {
      fs.rmSync(path.join(dirs.home, 'data', 'huge.csv'));
    }
  });

  test('two submits at once: one runs, the other is refused as busy', async () => {
    writeProject();
    const [a, b] = await Promise.all([submit<Record<string, unknown>>(), submit<Record<string, unknown>>()]);
    const statuses = [a.status, b.status].sort();
    assert.deepEqual(statuses, [200, 409], JSON.stringify([a.body, b.body]));
    const refused = a.status === 409 ? a.body : b.body;
    assert.equal(refused.code, 'busy');
    assert.match(String(refused.message), /under way/);
  });

  test('a body with fields is refused', async () => {
    const res = await fetchJson(sidecar.apiUrl('submit'), {
      method: 'POST',
      headers: { ...tokenHeader(sidecar), 'content-type': 'application/json' },
      body: '{"files": ["/etc/passwd"]}'
    });
    assert.equal(res.status, 400);
    assert.equal(res.body.code, 'bad_request');
  });

  test('receipts survive a restart of the workspace service, newest first', async () => {
    const before = await fetchJson<SubmissionListResponse>(sidecar.apiUrl('submissions'), { headers: tokenHeader(sidecar) });
    assert.ok(before.body.submissions.length >= 3);
    await sidecar.stop();
    sidecar = await startSidecar({ dirs, config: config() });
    const afterRestart = await fetchJson<SubmissionListResponse>(sidecar.apiUrl('submissions'), { headers: tokenHeader(sidecar) });
    assert.deepEqual(afterRestart.body.submissions, before.body.submissions);
    const times = afterRestart.body.submissions.map(s => Date.parse(s.submitted_at));
    assert.deepEqual(times, [...times].sort((x, y) => y - x));
  });
});
