/**
 * The containment strategies on their own (sidecar/src/jupyter/containment.ts),
 * with real processes: how the strategy is chosen and what the status says,
 * that a process launched through the cgroup wrapper and every child it
 * detaches are in the cgroup and end with a sweep, and that the uid sweep goes
 * by real uid only, so the sidecar's own helpers (real uid 65534, effective
 * uid the notebook user's) survive it. Needs root (cgroups, setpriv, a user);
 * skipped without, saying why.
 */
import assert from 'node:assert/strict';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { StartupError } from '../../src/errors';
import { cgroup2Mounts, cgroupContainment, cgroupName, cgroupOf, setUpContainment, uidContainment } from '../../src/jupyter/containment';
import { RunAs, SETPRIV } from '../../src/jupyter/launch';
import { lookupUser } from '../../src/jupyter/notebookUser';
import { cgroupUnavailable } from '../support/containment';
import { isRunning, waitFor } from '../support/sidecar';

/** Shared with containment.test.ts: a user no other test file runs processes as. */
const USER = 'gpuws-contain';
const skip = process.getuid?.() === 0 ? false : 'needs root (cgroups, setpriv, a notebook user)';

const roots: string[] = [];
const children: ChildProcess[] = [];
after(() => {
  children.forEach(c => c.kill('SIGKILL'));
  roots.forEach(r => fs.rmSync(r, { recursive: true, force: true }));
});

function stateDir(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-workspace-contain-'));
  roots.push(root);
  return root;
}

function notebookUser(): RunAs {
  try {
    execFileSync('getent', ['passwd', USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--no-create-home', '--shell', '/bin/bash', USER]);
  }
  return { user: lookupUser(USER), deviceGid: null };
}

/** Starts a command and resolves with the pid it writes to `pidFile` (a detached grandchild's, say). */
async function started(file: string, argv: string[], pidFile: string): Promise<number> {
  const child = spawn(file, argv, { stdio: 'ignore', detached: true });
  children.push(child);
  return waitFor('the process to write its pid', () => (fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8').trim()) : undefined), { timeoutMs: 10_000, intervalMs: 20 });
}

/** sh that detaches (setsid -f) a sleep writing its pid to `pidFile`, and itself sleeps on. */
const detachingShell = (pidFile: string): string[] => ['-c', `setsid -f sh -c 'echo $$ > "$0.tmp" && mv "$0.tmp" "$0" && exec sleep 1000' ${pidFile}; exec sleep 1000`];

describe('mountinfo parsing', () => {
  test('finds the cgroup2 mount of a hybrid and of a pure-v2 system, with escaped names', () => {
    const hybrid = [
      '25 31 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec - tmpfs tmpfs ro,mode=755',
      '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
      '42 25 0:39 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory'
    ].join('\n');
    assert.deepEqual(cgroup2Mounts(hybrid), [{ root: '/', mountPoint: '/sys/fs/cgroup/unified' }]);
    const containerV2 = '700 690 0:30 /kubepods/pod1 /sys/fs/cgroup\\040x rw,nosuid shared:5 - cgroup2 cgroup2 rw,nsdelegate';
    assert.deepEqual(cgroup2Mounts(containerV2), [{ root: '/kubepods/pod1', mountPoint: '/sys/fs/cgroup x' }]);
    assert.deepEqual(cgroup2Mounts('41 31 0:38 / /proc rw - proc proc rw'), []);
  });

  test('names the cgroup after the state directory: the same for the same one, another for another', () => {
    const a = stateDir();
    assert.equal(cgroupName(a), cgroupName(a));
    assert.notEqual(cgroupName(a), cgroupName(stateDir()));
    assert.match(cgroupName(a), /^gpu-workspace-[0-9a-f]{16}$/);
  });
});

describe('choosing the strategy', { skip }, () => {
  test('"tree" says plainly that detached processes escape', async () => {
    const c = setUpContainment({ setting: 'tree', stateDir: stateDir(), runAs: null });
    assert.equal(c.status.strategy, 'tree');
    assert.equal(c.status.escapes, true);
    assert.match(c.status.reason ?? '', /setsid/);
    await c.close();
  });

  test('"uid" without jupyter.user stops start-up, saying so', () => {
    assert.throws(() => setUpContainment({ setting: 'uid', stateDir: stateDir(), runAs: null }), (err: Error) => err instanceof StartupError && /jupyter\.user is not set/.test(err.message));
  });

  test('"uid" names the uid and the one-workspace-per-user assumption', async () => {
    const runAs = notebookUser();
    const c = setUpContainment({ setting: 'uid', stateDir: stateDir(), runAs });
    assert.equal(c.status.strategy, 'uid');
    assert.equal(c.status.escapes, false);
    assert.match(c.status.scope, new RegExp(`uid ${runAs.user.uid}`));
    assert.match(c.status.reason ?? '', /one workspace per notebook user/);
    await c.close();
  });

  test('"auto" takes a cgroup where the system allows one', { skip: cgroupUnavailable() }, async () => {
    const c = setUpContainment({ setting: 'auto', stateDir: stateDir(), runAs: null });
    assert.equal(c.status.strategy, 'cgroup');
    assert.equal(c.status.reason, null);
    await c.close();
  });
});

describe('the cgroup strategy', { skip: cgroupUnavailable() }, () => {
  test('a process started through its launch, and the child it detaches, are in the cgroup; a sweep ends both; close removes the cgroup', async () => {
    const dir = stateDir();
    const c = cgroupContainment(dir);
    const cgPath = c.status.scope.replace(/^cgroup /, '');
    const pidFile = path.join(dir, 'detached.pid');
    const launch = c.launch({ file: '/bin/sh', argv: detachingShell(pidFile) });
    const detached = await started(launch.file, launch.argv, pidFile);
    assert.equal(cgroupOf(detached), cgPath);
    assert.ok(c.contains(detached, null));
    assert.equal(c.contains(process.pid, null), false, 'the sidecar is not in the workspace');
    await waitFor('the shell and the detached sleep, nothing else, in the cgroup', () => (c.members().length === 2 ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 });
    const { found, left } = await c.sweep(1000);
    assert.equal(found.length, 2);
    assert.deepEqual(left, []);
    assert.equal(isRunning(detached), false);
    await c.close();
    const mount = cgroup2Mounts(fs.readFileSync('/proc/self/mountinfo', 'utf8'))[0];
    assert.equal(fs.existsSync(path.join(mount.mountPoint, cgPath.slice(mount.root === '/' ? 0 : mount.root.length))), false);
  });

  test('a cgroup a killed sidecar left is taken back and swept at the next set-up', async () => {
    const dir = stateDir();
    const first = cgroupContainment(dir);
    const pidFile = path.join(dir, 'left.pid');
    const launch = first.launch({ file: '/bin/sh', argv: detachingShell(pidFile) });
    const left = await started(launch.file, launch.argv, pidFile);
    // No close(): the sidecar "died". The next one, on the same state directory, finds the same cgroup.
    const second = cgroupContainment(dir);
    assert.ok(second.contains(left, null));
    await second.sweep(1000);
    assert.equal(isRunning(left), false);
    await second.close();
  });
});

describe('the uid strategy', { skip }, () => {
  test("a sweep ends every process whose real uid is the notebook user's, and not a helper whose effective uid only is", async () => {
    const runAs = notebookUser();
    const { uid, gid } = runAs.user;
    const dir = stateDir();
    fs.chmodSync(dir, 0o777);
    const c = uidContainment(runAs, 'test');
    const asUser = [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--', '/bin/sh'];
    const detached = await started(SETPRIV, [...asUser, ...detachingShell(path.join(dir, 'user.pid'))], path.join(dir, 'user.pid'));
    // How the sidecar's helpers (restic and the like) run: real uid 65534, effective uid the user's.
    const helperFile = path.join(dir, 'helper.pid');
    const helper = await started(
      SETPRIV,
      ['--ruid=65534', '--rgid=65534', `--euid=${uid}`, `--egid=${gid}`, '--clear-groups', '--', '/bin/sh', '-c', `echo $$ > ${helperFile}.tmp && mv ${helperFile}.tmp ${helperFile} && exec sleep 1000`],
      helperFile
    );
    assert.ok(c.contains(detached, null));
    assert.equal(c.contains(helper, null), false);
    const { left } = await c.sweep(1000);
    assert.deepEqual(left, []);
    assert.equal(isRunning(detached), false, 'the detached process of the user is gone');
    assert.ok(isRunning(helper), 'the helper runs on');
    process.kill(helper, 'SIGKILL');
  });
});
