/**
 * The operator's submit manifest at start-up: paths that leave the home, an
 * exchange folder the user could write, and a missing destination stop the
 * sidecar with the key named; with submission off, the API says so.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { SubmissionListResponse, SubmitChecklist } from '@jupyterlab-gpu-workspace/api';
import { fetchJson, makeTempDirs, runUntilExit, Sidecar, STACK_LINE, startSidecar, tokenHeader } from '../support/sidecar';

const directory = { type: 'directory', path: '/srv/exchange' };

async function refused(submit: Record<string, unknown>, dirs = makeTempDirs()): Promise<string> {
  try {
    const run = await runUntilExit({ config: { submit }, dirs });
    assert.notEqual(run.code, 0, 'the sidecar should refuse to start');
    assert.ok(!run.stderr.includes(STACK_LINE), run.stderr);
    return run.stderr;
  } finally {
    dirs.remove();
  }
}

describe('the submit manifest at start-up', () => {
  test('a required path outside the home stops start-up, naming the key', async () => {
    const stderr = await refused({ enabled: true, required: ['project.ipynb', '../other-user/answers.ipynb'], destination: directory });
    assert.match(stderr, /submit\.required\[1\]: "\.\.\/other-user\/answers\.ipynb" leaves the home folder/);
  });

  test('an absolute required path stops start-up, naming the key', async () => {
    const stderr = await refused({ enabled: true, required: ['/etc/shadow'], destination: directory });
    assert.match(stderr, /submit\.required\[0\]: "\/etc\/shadow" is an absolute path/);
  });

  test('a conversion of files outside the home stops start-up, naming the key', async () => {
    const stderr = await refused({ enabled: true, required: ['a.ipynb'], conversions: [{ from: 'notebooks/../../*.ipynb', to: 'html' }], destination: directory });
    assert.match(stderr, /submit\.conversions\[0\]\.from: .* leaves the home folder/);
  });

  test('an exchange folder inside the home stops start-up (the user could rewrite what was delivered)', async () => {
    const dirs = makeTempDirs();
    const stderr = await refused({ enabled: true, required: ['a.ipynb'], destination: { type: 'directory', path: path.join(dirs.home, 'exchange') } }, dirs);
    assert.match(stderr, /submit\.destination\.path: .* must be outside the home folder/);
  });

  test('submission enabled without a destination, with an unknown kind, or with nothing to submit, stops start-up', async () => {
    assert.match(await refused({ enabled: true, destination: directory }), /submit\.required: name at least one file/);
    assert.match(await refused({ enabled: true, required: ['a.ipynb'] }), /submit\.destination: required when submit\.enabled is true/);
    assert.match(await refused({ enabled: true, required: ['a.ipynb'], destination: { type: 'ftp', path: '/x' } }), /submit\.destination\.type: must be one of "directory", "http", "command"/);
    assert.match(await refused({ enabled: true, required: ['a.ipynb'], destination: { type: 'http', url: 'https://hand-in.example/' } }), /submit\.destination: must have required property 'token'/);
  });
});

describe('with submission not enabled', () => {
  let sidecar: Sidecar;
  before(async () => {
    sidecar = await startSidecar({ config: { snapshots: { schedule_minutes: 0 } } });
  });
  after(async () => {
    await sidecar?.stop();
  });

  test('the checklist says so, and submitting is refused', async () => {
    const list = await fetchJson<SubmitChecklist>(sidecar.apiUrl('submit'), { headers: tokenHeader(sidecar) });
    assert.equal(list.status, 200);
    assert.equal(list.body.enabled, false);
    assert.equal(list.body.ready, false);
    const res = await fetchJson(sidecar.apiUrl('submit'), { method: 'POST', headers: { ...tokenHeader(sidecar), 'content-type': 'application/json' }, body: '{}' });
    assert.equal(res.status, 403);
    assert.match(String(res.body.message), /not enabled/);
    const history = await fetchJson<SubmissionListResponse>(sidecar.apiUrl('submissions'), { headers: tokenHeader(sidecar) });
    assert.deepEqual(history.body, { enabled: false, submissions: [], running: null });
  });
});
