/**
 * Submit Project to an HTTP endpoint: a real receiver started by the test
 * gets the zip as multipart/form-data with the bearer token; an unreachable
 * endpoint leaves a failed receipt and the archive kept, and a retry once the
 * endpoint is up delivers those very bytes.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DeliveryFailedBody, SubmissionListResponse, SubmissionReceipt, SubmitChecklist } from '@jupyterlab-gpu-workspace/api';
import { fetchJson, freePort, makeTempDirs, Sidecar, startSidecar, TempDirs, tokenHeader } from '../support/sidecar';
import { auditRows, makeReceiver, notebook, Receiver, sha256, writeHomeFile } from '../support/submit';

const BEARER = 'exchange-token-4f1c9a7e';

let dirs: TempDirs;
let sidecar: Sidecar;
let receiver: Receiver;

before(async () => {
  dirs = makeTempDirs();
  // The receiver's port is fixed now, but nothing listens there until a test says so.
  receiver = makeReceiver(await freePort());
  sidecar = await startSidecar({
    dirs,
    config: {
      snapshots: { schedule_minutes: 0 },
      submit: {
        enabled: true,
        required: ['report.ipynb', 'results'],
        destination: { type: 'http', url: `${receiver.url}?course=ml101`, token: BEARER },
        delivery_timeout_seconds: 20
      }
    }
  });
  writeHomeFile(dirs.home, 'report.ipynb', notebook('Report'));
  writeHomeFile(dirs.home, 'results/run1/metrics.json', '{"accuracy": 0.93}\n');
  writeHomeFile(dirs.home, 'results/run1/weights.bin', Buffer.alloc(200_000, 7));
});

after(async () => {
  await sidecar?.stop();
  await receiver?.close();
  dirs?.remove();
});

const post = <T>(route: string): Promise<{ status: number; body: T }> =>
  fetchJson<T>(sidecar.apiUrl(route), {
    method: 'POST',
    headers: { ...tokenHeader(sidecar), 'content-type': 'application/json' },
    body: '{}',
    signal: AbortSignal.timeout(120_000)
  });

const keptArchive = (id: string): string => path.join(dirs.stateDir, 'submissions', `${id}.zip`);

describe('submitting to an HTTP endpoint', () => {
  test('the checklist names the endpoint without its token or query', async () => {
    const res = await fetchJson<SubmitChecklist>(sidecar.apiUrl('submit'), { headers: tokenHeader(sidecar) });
    assert.equal(res.body.ready, true, res.body.reason ?? '');
    assert.deepEqual(res.body.destination, { type: 'http', where: receiver.url });
    assert.ok(!JSON.stringify(res.body).includes(BEARER));
    assert.deepEqual(res.body.items[1].files.map(f => f.path), ['results/run1/metrics.json', 'results/run1/weights.bin']);
  });

  test('with the endpoint unreachable, the receipt says failed, the archive is kept, and a retry delivers it', async () => {
    const res = await post<DeliveryFailedBody>('submit');
    assert.equal(res.status, 502, JSON.stringify(res.body));
    assert.equal(res.body.code, 'delivery_failed');
    const failed = res.body.receipt;
    assert.equal(failed.outcome, 'failed');
    assert.match(failed.error ?? '', /ECONNREFUSED/);
    assert.equal(failed.attempts, 1);
    assert.equal(failed.archive_kept, true);
    const kept = fs.readFileSync(keptArchive(failed.id));
    assert.equal(sha256(kept), failed.archive_sha256);

    const history = await fetchJson<SubmissionListResponse>(sidecar.apiUrl('submissions'), { headers: tokenHeader(sidecar) });
    assert.deepEqual(history.body.submissions[0], failed);

    await receiver.listen();
    const retried = await post<SubmissionReceipt>(`submissions/${failed.id}/retry`);
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    assert.equal(retried.body.outcome, 'delivered');
    assert.equal(retried.body.attempts, 2);
    assert.equal(retried.body.error, null);
    assert.equal(retried.body.destination.detail, 'HTTP 201');
    assert.equal(retried.body.archive_sha256, failed.archive_sha256);
    assert.equal(receiver.received.length, 1);
    assert.equal(sha256(receiver.received[0].archive?.data ?? Buffer.alloc(0)), failed.archive_sha256);
    assert.equal(fs.existsSync(keptArchive(failed.id)), false);
    assert.equal(auditRows(dirs.stateDir, 'submit-retry').at(-1)?.detail.outcome, 'delivered');

    const again = await post<Record<string, unknown>>(`submissions/${failed.id}/retry`);
    assert.equal(again.status, 409);
    assert.match(String(again.body.message), /already delivered/);
  });

  test('the endpoint receives the zip as multipart with the bearer token, and the same bytes', async () => {
    await receiver.listen();
    const before = receiver.received.length;
    const res = await post<SubmissionReceipt>('submit');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const receipt = res.body;
    const got = receiver.received[before];
    assert.equal(got.authorization, `Bearer ${BEARER}`);
    assert.match(got.contentType ?? '', /^multipart\/form-data; boundary=/);
    assert.equal(got.submissionId, receipt.id);
    assert.equal(got.archive?.name, receipt.archive_name);
    assert.equal(got.archive?.type, 'application/zip');
    assert.equal(got.archive?.data.length, receipt.bytes);
    assert.equal(sha256(got.archive?.data ?? Buffer.alloc(0)), receipt.archive_sha256);
    assert.deepEqual((got.manifest as { files: unknown }).files, receipt.files);
    assert.deepEqual(
      receipt.files.map(f => f.path),
      ['report.ipynb', 'results/run1/metrics.json', 'results/run1/weights.bin']
    );
    assert.equal(receipt.files[2].sha256, sha256(Buffer.alloc(200_000, 7)));
    // The token is the operator's: never in a receipt, the history or the audit log.
    assert.ok(!JSON.stringify(receipt).includes(BEARER));
    assert.ok(!JSON.stringify(auditRows(dirs.stateDir, 'submit')).includes(BEARER));
  });

  test('an endpoint that answers with an error fails the delivery with its answer', async () => {
    receiver.answer.status = 503;
    receiver.answer.body = 'hand-in closed for maintenance';
    try {
      const res = await post<DeliveryFailedBody>('submit');
      assert.equal(res.status, 502, JSON.stringify(res.body));
      assert.match(res.body.receipt.error ?? '', /answered 503: hand-in closed for maintenance/);
      assert.ok(fs.existsSync(keptArchive(res.body.receipt.id)));
    } finally {
      receiver.answer.status = 201;
      receiver.answer.body = '{"stored": true}';
    }
  });

  test('a retry of an unknown submission is 404', async () => {
    const res = await post<Record<string, unknown>>('submissions/00000000-0000-4000-8000-000000000000/retry');
    assert.equal(res.status, 404);
    const bad = await post<Record<string, unknown>>('submissions/..%2F..%2Fetc/retry');
    assert.equal(bad.status, 404);
  });
});
