/**
 * Operator hooks under node-pty, for real: output with its colours arrives
 * live and in order, exit codes and signals are reported, a hook that hangs
 * (and ignores SIGTERM) is killed at its time limit together with what it
 * started, and a notebook user runs it with that user's identity only.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import type { HookEvent } from '@jupyterlab-gpu-workspace/api';
import { lookupUser } from '../../src/jupyter/notebookUser';
import { createLogger } from '../../src/log';
import { describeEnd, failureOf, PtyHookRunner } from '../../src/hooks/runner';
import { makeTempDirs, TempDirs } from '../support/sidecar';

const quiet = createLogger('error', 'test', () => undefined);
const dirs: TempDirs = makeTempDirs();
after(() => fs.rmSync(dirs.root, { recursive: true, force: true }));

function runner(over: Partial<ConstructorParameters<typeof PtyHookRunner>[0]> = {}): PtyHookRunner {
  return new PtyHookRunner({ runAs: null, home: dirs.home, env: () => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', WORKSPACE_MARK: 'from-workspace' }), log: quiet, ...over });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('operator hooks under a pseudo-terminal', () => {
  test('output keeps its colours and arrives in order, live; exit code 0 is success', async () => {
    const hooks = runner();
    const events: HookEvent[] = [];
    hooks.on('hook', (e: HookEvent) => events.push(e));
    const result = await hooks.run({
      title: 'Colours',
      command: ['sh', '-c', 'printf "\\033[31mred\\033[0m\\n"; echo "$WORKSPACE_MARK $EXTRA $HOME"; [ -t 1 ] && echo tty'],
      cwd: dirs.home,
      timeoutMs: 10_000,
      env: { EXTRA: 'from-spec' }
    });
    assert.equal(result.ok, true);
    assert.equal(result.run.state, 'succeeded');
    assert.equal(result.run.exit_code, 0);
    assert.match(result.output, /\x1b\[31mred\x1b\[0m/);
    assert.match(result.output, new RegExp(`from-workspace from-spec ${dirs.home}`));
    assert.match(result.output, /tty/, 'the hook sees a terminal');
    // Start, output chunks that tile the output exactly, end.
    assert.equal(events[0].run.state, 'running');
    assert.equal(events.at(-1)?.run.state, 'succeeded');
    let end = 0;
    for (const e of events.slice(1, -1)) {
      assert.equal(e.offset, end);
      end += e.chunk.length;
    }
    assert.equal(events.slice(1, -1).map(e => e.chunk).join(''), result.output);
    const read = hooks.read(result.run.id, 0);
    assert.equal(read?.output, result.output);
    assert.equal(read?.output_end, result.output.length);
    assert.equal(hooks.read(result.run.id, 4)?.output, result.output.slice(4));
    assert.deepEqual(hooks.list().map(r => r.id), [result.run.id]);
  });

  test('a failing hook reports its exit code, and its failure carries the end of the log', async () => {
    const result = await runner().run({ title: 'Fails', command: ['sh', '-c', 'echo "something broke" >&2; exit 3'], cwd: dirs.home, timeoutMs: 10_000 });
    assert.equal(result.ok, false);
    assert.equal(result.run.state, 'failed');
    assert.equal(result.run.exit_code, 3);
    assert.equal(describeEnd(result.run), 'exited with code 3');
    const failure = failureOf(result);
    assert.match(failure.output_tail, /something broke/);
    assert.equal(failure.run.id, result.run.id);
  });

  test('a program that does not exist fails the run with a reason, not the sidecar', async () => {
    const result = await runner().run({ title: 'Missing', command: ['no-such-program-here'], cwd: dirs.home, timeoutMs: 10_000 });
    assert.equal(result.run.state, 'failed');
    assert.equal(result.run.exit_code, 127);
    assert.match(result.output, /"no-such-program-here" was not found/);
  });

  test('a hook that hangs and ignores SIGTERM is killed at its time limit, with what it started', async () => {
    const pidFile = path.join(dirs.root, 'grandchild.pid');
    const started = Date.now();
    const result = await runner({ killGraceMs: 300 }).run({
      title: 'Hangs',
      command: ['sh', '-c', `trap "" TERM; sleep 600 & echo $! > ${pidFile}; echo waiting; wait; sleep 600`],
      cwd: dirs.home,
      timeoutMs: 800
    });
    const took = Date.now() - started;
    assert.equal(result.run.state, 'timed-out');
    assert.equal(result.ok, false);
    assert.equal(result.run.timeout_seconds, 0.8);
    assert.match(result.output, /waiting/);
    assert.match(result.output, /time limit of 0.8 s/);
    assert.match(describeEnd(result.run), /time limit of 0.8 s/);
    assert.ok(took < 30_000, `ended ${took} ms after it started`);
    const grandchild = Number(fs.readFileSync(pidFile, 'utf8'));
    // The kill reaches the process group: the background sleep goes too (reaped by init, so poll briefly).
    const deadline = Date.now() + 5_000;
    while (alive(grandchild) && Date.now() < deadline) {
      await new Promise(r => setTimeout(r, 50));
    }
    assert.equal(alive(grandchild), false, 'what the hook started is gone too');
  });

  test('a long output keeps its last part, and offsets keep counting', async () => {
    const hooks = runner({ maxOutputChars: 10_000 });
    const result = await hooks.run({ title: 'Chatty', command: ['sh', '-c', 'i=0; while [ $i -lt 3000 ]; do echo "line $i"; i=$((i+1)); done'], cwd: dirs.home, timeoutMs: 20_000 });
    assert.equal(result.run.state, 'succeeded');
    const read = hooks.read(result.run.id, 0);
    assert.ok(read);
    assert.ok(read.output_start > 0, 'the start was dropped');
    assert.ok(read.output.length <= 12_500);
    assert.equal(read.output_start + read.output.length, read.output_end);
    assert.match(read.output, /line 2999/);
    assert.doesNotMatch(read.output, /line 0\r?\n/);
    assert.equal(hooks.read('000000000000'), null);
  });

  const isRoot = process.getuid?.() === 0;
  test('with a notebook user, the hook runs as that user, with its groups only', { skip: isRoot ? false : 'needs root to create a user' }, async () => {
    const name = 'gwhook';
    try {
      execFileSync('getent', ['passwd', name], { stdio: 'ignore' });
    } catch {
      execFileSync('useradd', ['--no-create-home', '--shell', '/bin/bash', name]);
    }
    const user = lookupUser(name);
    fs.chmodSync(dirs.root, 0o755);
    fs.chownSync(dirs.home, user.uid, user.gid);
    const result = await runner({ runAs: { user, deviceGid: null } }).run({
      title: 'Who am I',
      command: ['sh', '-c', 'echo "uid=$(id -u) groups=$(id -G) home=$HOME user=$USER umask=$(umask)"; touch made-by-hook'],
      cwd: dirs.home,
      timeoutMs: 10_000
    });
    assert.equal(result.run.state, 'succeeded', result.output);
    assert.match(result.output, new RegExp(`uid=${user.uid} groups=${user.gid}\\s`));
    assert.match(result.output, new RegExp(`home=${dirs.home} user=${name} umask=0022`));
    assert.equal(fs.statSync(path.join(dirs.home, 'made-by-hook')).uid, user.uid);
  });
});
