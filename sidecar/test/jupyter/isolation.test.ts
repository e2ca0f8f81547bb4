/**
 * The trust boundary, seen from a real kernel: with `jupyter.user` set and
 * the sidecar running as root, notebook code runs as that user and cannot
 * reach the sidecar's secrets, ledger, environment or process; GPU device
 * nodes open only in GPU mode; the watchdog stops a workspace process that
 * uses the GPU in CPU mode. The tests create a Unix user and group (CI runs
 * as root); without root they are skipped, saying why.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dirsForUser, ensureAccount, NEEDS_ROOT } from '../support/notebookUser';
import { FAKE_NVIDIA_SMI, FakeGpu, gpuStatus, makeFakeGpu, switchGpu } from '../support/gpu';
import { execute, openWebSocket } from '../support/kernel';
import {
  runInNewKernel,
  startKernel,
  runUntilExit,
  Sidecar,
  startSidecar,
  TempDirs,
  waitFor
} from '../support/sidecar';

const USER = 'gpuws-notebook';
const DEVICE_GROUP = 'gpuws-gpu';
const skip = NEEDS_ROOT;

/** Creates the test's user and group once; both are left for later runs (useradd is slow). */
const ensureAccounts = (): { uid: number; gid: number } => ensureAccount(USER, DEVICE_GROUP);

/** Stand-in GPU device nodes: plain files owned by the device group, mode 0660. */
function fakeDeviceNodes(root: string, mode = 0o660): string {
  const dev = path.join(root, 'dev');
  fs.mkdirSync(dev, { mode: 0o755 });
  const gid = Number(execFileSync('getent', ['group', DEVICE_GROUP], { encoding: 'utf8' }).split(':')[2]);
  for (const name of ['nvidia0', 'nvidiactl']) {
    const file = path.join(dev, name);
    fs.writeFileSync(file, 'device\n');
    fs.chownSync(file, 0, gid);
    fs.chmodSync(file, mode);
  }
  return dev;
}

/** Python that prints what happened when it tried `expr`: "ok", or the exception's name. */
const attempt = (expr: string): string =>
  `try:\n    ${expr}\n    print('ok')\nexcept Exception as e:\n    print(type(e).__name__)\n`;

describe('a workspace whose notebook user is not the sidecar', { skip }, () => {
  let dirs: TempDirs;
  let fakeGpu: FakeGpu;
  let sidecar: Sidecar;
  let account: { uid: number; gid: number };
  let dev: string;

  before(async () => {
    account = ensureAccounts();
    dirs = dirsForUser();
    dev = fakeDeviceNodes(dirs.root);
    fakeGpu = makeFakeGpu();
    sidecar = await startSidecar({
      dirs,
      env: fakeGpu.env,
      config: {
        api: { identity_cache_seconds: 300 },
        jupyter: { user: USER },
        gpu: { nvidia_smi: FAKE_NVIDIA_SMI, device_group: DEVICE_GROUP, device_paths: [`${dev}/nvidia*`], watchdog_seconds: 0.5 }
      }
    });
  });

  after(async () => {
    await sidecar?.stop();
    dirs?.remove();
    fakeGpu?.remove();
  });

  test('the kernel runs as the notebook user, and the status says isolation holds', async () => {
    const out = await runInNewKernel(sidecar, 'import os; print(os.getuid(), os.getgid(), os.environ["HOME"])');
    assert.equal(out.trim(), `${account.uid} ${account.gid} ${dirs.home}`);
    const status = await gpuStatus(sidecar);
    const { containment, ...isolation } = status.isolation;
    assert.deepEqual(isolation, { user: USER, enforced: true, reason: null });
    assert.notEqual(containment.strategy, 'tree', 'with a notebook user, the workspace is its cgroup or its uid');
    assert.equal(status.gpu.cpu_mode_enforced, true, String(status.gpu.cpu_mode_reason));
  });

  test('the home folder was created for the notebook user, and a file the kernel writes there is theirs', async () => {
    assert.equal(fs.statSync(dirs.home).uid, account.uid);
    await runInNewKernel(sidecar, "open('made-by-the-kernel.txt', 'w').write('hello')");
    const st = fs.statSync(path.join(dirs.home, 'made-by-the-kernel.txt'));
    assert.equal(st.uid, account.uid);
    assert.equal(st.mode & 0o777, 0o644, 'umask 022');
  });

  test('the kernel cannot read the secrets', async () => {
    const secret = path.join(dirs.stateDir, 'secrets', 'jupyter_cookie_secret');
    assert.ok(fs.existsSync(secret), 'precondition: the secret exists');
    assert.equal((await runInNewKernel(sidecar, attempt(`open(${JSON.stringify(secret)}).read()`))).trim(), 'PermissionError');
    assert.equal((await runInNewKernel(sidecar, attempt(`__import__('os').listdir(${JSON.stringify(dirs.stateDir)})`))).trim(), 'PermissionError');
  });

  test('the kernel cannot open the ledger for writing', async () => {
    const ledger = path.join(dirs.stateDir, 'ledger.sqlite');
    assert.equal((await runInNewKernel(sidecar, attempt(`open(${JSON.stringify(ledger)}, 'r+b')`))).trim(), 'PermissionError');
  });

  test('the kernel cannot read the sidecar\'s environment', async () => {
    const out = await runInNewKernel(sidecar, attempt(`open('/proc/${sidecar.pid}/environ', 'rb').read()`));
    assert.equal(out.trim(), 'PermissionError');
  });

  test('the kernel cannot signal the sidecar', async () => {
    assert.equal((await runInNewKernel(sidecar, attempt(`__import__('os').kill(${sidecar.pid}, 0)`))).trim(), 'PermissionError');
  });

  test('in CPU mode the GPU device nodes do not open; in GPU mode they do', async () => {
    const open = attempt(`open(${JSON.stringify(path.join(dev, 'nvidia0'))}, 'rb').read()`);
    assert.equal((await runInNewKernel(sidecar, open)).trim(), 'PermissionError', 'CPU mode');
    await switchGpu(sidecar, true);
    assert.equal((await runInNewKernel(sidecar, open)).trim(), 'ok', 'GPU mode');
    await switchGpu(sidecar, false);
    assert.equal((await runInNewKernel(sidecar, open)).trim(), 'PermissionError', 'CPU mode again');
  });

  test('in CPU mode the watchdog stops a kernel that holds GPU memory, and writes an audit row', async () => {
    const kernelId = await startKernel(sidecar);
    const ws = await openWebSocket(sidecar.url(`api/kernels/${kernelId}/channels?token=${sidecar.token}`).replace(/^http/, 'ws'));
    const pid = Number((await execute(ws, 'import os; print(os.getpid())')).stdout.trim());
    ws.close();
    assert.ok(fs.existsSync(`/proc/${pid}`), 'precondition: the kernel runs');
    fs.writeFileSync(path.join(fakeGpu.dir, 'apps.csv'), `${pid}, 1024\n`);
    const status = await waitFor('the watchdog to stop the process', async () => {
      const s = await gpuStatus(sidecar);
      return s.gpu.watchdog_stopped.some(stop => stop.pid === pid) ? s : undefined;
    });
    await waitFor('the process to be gone', () => (fs.existsSync(`/proc/${pid}`) && !/\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')) ? undefined : true));
    assert.match(status.gpu.watchdog_stopped[0].command, /ipykernel/);
    const audit = execFileSync('python3', [
      '-c',
      `import sqlite3; print([r[0] for r in sqlite3.connect(${JSON.stringify(path.join(dirs.stateDir, 'ledger.sqlite'))}).execute("select detail from audit where action='gpu.watchdog_stopped'")])`
    ], { encoding: 'utf8' });
    assert.match(audit, new RegExp(`"pid": ?${pid}`));
    fs.rmSync(path.join(fakeGpu.dir, 'apps.csv'));
  });
});

describe('start-up refusals around the notebook user', { skip }, () => {
  before(() => ensureAccounts());

  test('a jupyter.user that does not exist stops start-up, saying so', async () => {
    const run = await runUntilExit({ config: { jupyter: { user: 'no-such-user-here' } } });
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /jupyter\.user is "no-such-user-here", but no such user exists/);
  });

  test('a home folder owned by someone else stops start-up, naming the owner', async () => {
    // makeTempDirs' home belongs to root, not to the notebook user.
    const run = await runUntilExit({ config: { jupyter: { user: USER } } });
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /belongs to uid 0, not to jupyter\.user "gpuws-notebook"/);
  });

  test('a sidecar that is not root with jupyter.user set stops start-up, saying what to do', async () => {
    const dirs = dirsForUser();
    try {
      const { uid, gid } = ensureAccounts();
      fs.chownSync(dirs.root, uid, gid);
      const config = path.join(dirs.root, 'config.json');
      fs.writeFileSync(config, JSON.stringify({ jupyter: { user: USER } }));
      const bin = path.resolve(__dirname, '..', '..', 'bin', 'gpu-workspace.js');
      let stderr = '';
      let code = 0;
      try {
        execFileSync(
          'setpriv',
          [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--', process.execPath, bin, 'serve', '--port', '0', '--home', dirs.home, '--state-dir', dirs.stateDir, '--config', config],
          { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 }
        );
      } catch (err) {
        const e = err as { status: number; stderr: string };
        code = e.status;
        stderr = e.stderr;
      }
      assert.equal(code, 1, stderr);
      assert.match(stderr, /not root: only root can start Jupyter as another user. Start the sidecar as root/);
    } finally {
      dirs.remove();
    }
  });
});
