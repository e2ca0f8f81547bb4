/**
 * The operator's post-reset hook through the real sidecar and the real hook
 * runner (node-pty): it runs in the fresh home before Jupyter starts again; a
 * failing one fails the reset with its log; a hanging one is stopped at its
 * time limit. Either way the home stays reset and Jupyter runs. The hook is
 * one script the tests rewrite, so one sidecar serves them all.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { HookFailure, HookRunResponse, ResetResponse } from '@jupyterlab-gpu-workspace/api';
import type { ErrorBody } from '@jupyterlab-gpu-workspace/api';
import { getStatus, makeTempDirs, Sidecar, startSidecar, TempDirs } from '../support/sidecar';
import { auditRows, courseHome, get, listing, post, resetStatus, userWork } from './support';

const TIME_LIMIT_SECONDS = 3;
const CONFIRM = { confirm: 'Reset data' };

describe('the post-reset hook', () => {
  let dirs: TempDirs;
  let sidecar: Sidecar;
  let hookScript: string;
  let clean: string[];

  const setHook = (body: string): void => {
    fs.writeFileSync(hookScript, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  };

  before(async () => {
    dirs = makeTempDirs();
    courseHome(dirs.home);
    clean = listing(dirs.home);
    hookScript = path.join(dirs.root, 'post-reset.sh');
    setHook('true');
    sidecar = await startSidecar({
      dirs,
      config: {
        snapshots: { schedule_minutes: 0 },
        reset: { post_reset_hook: [hookScript, 'from-config'], hook_timeout_seconds: TIME_LIMIT_SECONDS }
      }
    });
  });

  after(async () => {
    await sidecar?.stop();
    dirs?.remove();
  });

  test('runs in the clean home, with its arguments, before Jupyter starts again', async () => {
    // The hook sees the reset home: the template's README, which the user had deleted, is back.
    setHook('echo "args: $*" > from-hook.txt; ls README.md >> from-hook.txt; echo "snapshot $GPU_WORKSPACE_RESET_SNAPSHOT" >> from-hook.txt');
    userWork(dirs.home);
    const res = await post<ResetResponse>(sidecar, 'reset', CONFIRM);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.hook?.state, 'succeeded');
    assert.equal(fs.readFileSync(path.join(dirs.home, 'from-hook.txt'), 'utf8'), `args: from-config\nREADME.md\nsnapshot ${res.body.snapshot_id}\n`);
    assert.deepEqual(listing(dirs.home, { excludes: ['.cache', 'from-hook.txt'] }), clean);
    assert.equal((await resetStatus(sidecar)).last?.hook_run, res.body.hook?.id);
  });

  test('a failing hook fails the reset with its log; the home stays reset and Jupyter runs', async () => {
    setHook('printf "\\033[31mcannot fetch the course repository\\033[0m\\n"; exit 3');
    userWork(dirs.home);
    const res = await post<ErrorBody & { hook: HookFailure }>(sidecar, 'reset', CONFIRM);
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.equal(res.body.code, 'hook_failed');
    assert.match(res.body.message, /The home was reset .*Undo reset.*exited with code 3/);
    assert.equal(res.body.hook.run.exit_code, 3);
    assert.equal(res.body.hook.run.state, 'failed');
    assert.match(res.body.hook.output_tail, /\u001b\[31mcannot fetch the course repository/);
    // The whole log is readable where the panel reads it.
    const log = await get<HookRunResponse>(sidecar, `hooks/runs/${res.body.hook.run.id}`);
    assert.equal(log.status, 200);
    assert.match(log.body.output, /cannot fetch the course repository/);

    assert.deepEqual(listing(dirs.home, { excludes: ['.cache'] }), clean);
    assert.equal((await getStatus(sidecar)).jupyter.state, 'running');
    const last = (await resetStatus(sidecar)).last;
    assert.equal(last?.outcome, 'hook-failed');
    assert.equal(auditRows(dirs.stateDir, 'reset').at(-1)?.detail.outcome, 'hook-failed');
  });

  test('a hanging hook is stopped at its time limit, and the reset says so', async () => {
    setHook('echo waiting for ever; sleep 600');
    const started = Date.now();
    const res = await post<ErrorBody & { hook: HookFailure }>(sidecar, 'reset', CONFIRM);
    const seconds = (Date.now() - started) / 1000;
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.equal(res.body.code, 'hook_failed');
    assert.equal(res.body.hook.run.state, 'timed-out');
    assert.match(res.body.message, /time limit/);
    assert.match(res.body.hook.output_tail, /waiting for ever/);
    // Bounded by the limit plus the snapshot, the swap, the kill's grace and Jupyter's start, far from the sleep.
    assert.ok(seconds < 120, `the reset took ${seconds} s`);
    assert.ok(seconds >= TIME_LIMIT_SECONDS, `the reset took ${seconds} s`);
    assert.equal((await getStatus(sidecar)).jupyter.state, 'running');
    assert.deepEqual(listing(dirs.home, { excludes: ['.cache'] }), clean);
  });
});
