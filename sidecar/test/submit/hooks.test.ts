/**
 * The parts of Submit Project that run as operator hooks, for real and (when
 * the tests run as root, as CI does) as a notebook user: nbconvert turning a
 * notebook into the archive's HTML, a command destination that gets the zip
 * in SUBMISSION_ZIP, and failures of either, with their logs.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DeliveryFailedBody, HookFailure, HookRunResponse, SubmissionListResponse, SubmissionReceipt, SubmitChecklist } from '@jupyterlab-gpu-workspace/api';
import { fetchJson, makeTempDirs, Sidecar, startSidecar, TempDirs, tokenHeader } from '../support/sidecar';
import { auditRows, notebook, sha256, unzipAndHash, writeHomeFile } from '../support/submit';

const USER = 'gpuws-notebook';
const isRoot = process.getuid?.() === 0;

/** The notebook user the isolation tests use too (created once, left for later runs). */
function ensureUser(): { uid: number; gid: number } {
  try {
    execFileSync('getent', ['passwd', USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--no-create-home', '--shell', '/bin/bash', USER]);
  }
  return { uid: Number(execFileSync('id', ['-u', USER], { encoding: 'utf8' })), gid: Number(execFileSync('id', ['-g', USER], { encoding: 'utf8' })) };
}

/** Delivers by copying the zip into the drop box given as $0; refuses while a file "closed" is there. */
const DELIVER_SCRIPT =
  'if [ -e "$0/closed" ]; then echo "the hand-in box is closed" >&2; exit 3; fi; ' +
  'cp "$SUBMISSION_ZIP" "$0/$SUBMISSION_NAME" && id -un > "$0/who" && echo "$SUBMISSION_ID $SUBMISSION_SHA256" > "$0/facts"';

let dirs: TempDirs;
let dropbox: string;
let owner: { uid: number; gid: number } | undefined;
let sidecar: Sidecar;

before(async () => {
  dirs = makeTempDirs();
  dropbox = path.join(dirs.root, 'dropbox');
  fs.mkdirSync(dropbox, { mode: 0o777 });
  fs.chmodSync(dropbox, 0o777);
  if (isRoot) {
    owner = ensureUser();
    // The notebook user must reach its home; the sidecar creates the home for it.
    fs.chmodSync(dirs.root, 0o755);
    fs.rmSync(dirs.home, { recursive: true, force: true });
  }
  sidecar = await startSidecar({
    dirs,
    config: {
      ...(isRoot ? { jupyter: { user: USER } } : {}),
      snapshots: { schedule_minutes: 0 },
      submit: {
        enabled: true,
        required: ['analysis.ipynb', 'notes/*.txt'],
        conversions: [{ from: 'analysis.ipynb', to: 'html' }],
        destination: { type: 'command', command: ['/bin/sh', '-c', DELIVER_SCRIPT, dropbox] },
        hook_timeout_seconds: 120
      }
    }
  });
  writeHomeFile(dirs.home, 'analysis.ipynb', notebook('Analysis by the notebook user'), owner);
  writeHomeFile(dirs.home, 'notes/readme.txt', 'see analysis\n', owner);
});

after(async () => {
  await sidecar?.stop();
  dirs?.remove();
});

const post = <T>(route: string): Promise<{ status: number; body: T }> =>
  fetchJson<T>(sidecar.apiUrl(route), {
    method: 'POST',
    headers: { ...tokenHeader(sidecar), 'content-type': 'application/json' },
    body: '{}',
    signal: AbortSignal.timeout(180_000)
  });

const hookRun = async (id: string): Promise<HookRunResponse> => {
  const res = await fetchJson<HookRunResponse>(sidecar.apiUrl(`hooks/runs/${id}`), { headers: tokenHeader(sidecar) });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
};

describe(`submissions whose conversions and delivery run as hooks${isRoot ? ` (as ${USER})` : ''}`, () => {
  test('nbconvert makes the HTML in the archive, and a command destination gets the zip in SUBMISSION_ZIP', async () => {
    const res = await post<SubmissionReceipt>('submit');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const receipt = res.body;
    assert.equal(receipt.destination.type, 'command');
    assert.equal(receipt.destination.detail, 'exit 0');

    const delivered = path.join(dropbox, receipt.archive_name);
    assert.equal(sha256(fs.readFileSync(delivered)), receipt.archive_sha256);
    assert.equal(fs.readFileSync(path.join(dropbox, 'facts'), 'utf8').trim(), `${receipt.id} ${receipt.archive_sha256}`);
    assert.equal(fs.readFileSync(path.join(dropbox, 'who'), 'utf8').trim(), isRoot ? USER : os.userInfo().username);

    const inZip = unzipAndHash(delivered, path.join(dirs.root, 'unzipped'));
    const html = receipt.files.find(f => f.path === 'analysis.html');
    assert.equal(html?.source, 'conversion');
    assert.deepEqual(inZip.get('analysis.html'), { sha256: html?.sha256, bytes: html?.bytes });
    assert.match(fs.readFileSync(path.join(dirs.root, 'unzipped', 'analysis.html'), 'utf8'), /Analysis by the notebook user/);

    const run = await hookRun(receipt.hook_run_id ?? '');
    assert.equal(run.title, `Deliver submission ${receipt.archive_name}`);
    assert.equal(run.state, 'succeeded');
    const runs = await fetchJson<{ runs: Array<{ title: string; state: string }> }>(sidecar.apiUrl('hooks/runs'), { headers: tokenHeader(sidecar) });
    assert.ok(runs.body.runs.some(r => r.title === 'Convert analysis.ipynb to HTML' && r.state === 'succeeded'));
  });

  test('a failing delivery command fails the submission with its log, and a retry after the fix delivers', async () => {
    fs.writeFileSync(path.join(dropbox, 'closed'), '');
    let failed: SubmissionReceipt;
    try {
      const res = await post<DeliveryFailedBody>('submit');
      assert.equal(res.status, 502, JSON.stringify(res.body));
      failed = res.body.receipt;
      assert.equal(failed.outcome, 'failed');
      assert.match(failed.error ?? '', /The delivery command exited with code 3/);
      const run = await hookRun(failed.hook_run_id ?? '');
      assert.equal(run.state, 'failed');
      assert.match(run.output, /the hand-in box is closed/);
    } finally {
      fs.rmSync(path.join(dropbox, 'closed'), { force: true });
    }
    const retried = await post<SubmissionReceipt>(`submissions/${failed.id}/retry`);
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    assert.equal(retried.body.attempts, 2);
    assert.equal(sha256(fs.readFileSync(path.join(dropbox, failed.archive_name))), failed.archive_sha256);
  });

  test('a conversion that fails stops the submission with hook_failed and the end of its log', async () => {
    const before = (await fetchJson<SubmissionListResponse>(sidecar.apiUrl('submissions'), { headers: tokenHeader(sidecar) })).body.submissions.length;
    writeHomeFile(dirs.home, 'analysis.ipynb', 'this is not a notebook', owner);
    try {
      const res = await post<{ code: string; message: string; hook: HookFailure }>('submit');
      assert.equal(res.status, 422, JSON.stringify(res.body));
      assert.equal(res.body.code, 'hook_failed');
      assert.match(res.body.message, /converting analysis\.ipynb to HTML exited with code \d+/);
      assert.equal(res.body.hook.run.title, 'Convert analysis.ipynb to HTML');
      assert.match(res.body.hook.output_tail, /NotJSONError|JSON/);
      const after = (await fetchJson<SubmissionListResponse>(sidecar.apiUrl('submissions'), { headers: tokenHeader(sidecar) })).body.submissions.length;
      assert.equal(after, before, 'no receipt: nothing was archived or delivered');
      assert.equal(auditRows(dirs.stateDir, 'submit').at(-1)?.detail.outcome, 'conversion-failed');
    } finally {
      writeHomeFile(dirs.home, 'analysis.ipynb', notebook('Analysis by the notebook user'), owner);
    }
  });

  test('a file the notebook user cannot read is listed as left out, never read by the sidecar', { skip: isRoot ? false : 'needs root to make a file the notebook user cannot read' }, async () => {
    writeHomeFile(dirs.home, 'notes/private.txt', 'root only\n');
    fs.chmodSync(path.join(dirs.home, 'notes', 'private.txt'), 0o600);
    try {
      const res = await fetchJson<SubmitChecklist>(sidecar.apiUrl('submit'), { headers: tokenHeader(sidecar) });
      const notes = res.body.items[1];
      assert.deepEqual(notes.files.map(f => f.path), ['notes/readme.txt']);
      assert.deepEqual(notes.skipped, [{ path: 'notes/private.txt', reason: 'cannot be read (permission denied)' }]);
    } finally {
      fs.rmSync(path.join(dirs.home, 'notes', 'private.txt'));
    }
  });
});
