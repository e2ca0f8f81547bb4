/**
 * The workspace is contained by cgroup or by uid, not by Jupyter's process
 * tree: a process that detaches from a kernel (`setsid -f`), started in GPU
 * mode with the GPU device group, does not outlive the switch to CPU mode, a
 * reset or an idle stop, and the GPU watchdog stops it in CPU mode when
 * nvidia-smi (the fake one) lists it as holding GPU memory. Each behaviour is
 * checked with the cgroup and with the uid strategy, forced by
 * `jupyter.containment`, against a real sidecar and a real Jupyter run as a
 * notebook user. Creates a Unix user and group (CI runs as root); without
 * root the tests are skipped, saying why.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ensureAccount } from '../support/notebookUser';
import type { ContainmentStrategy, IdleStatus, ResetResponse } from '@jupyterlab-gpu-workspace/api';
import { FAKE_NVIDIA_SMI, FakeGpu, gpuStatus, makeFakeGpu, switchGpu } from '../support/gpu';
import { descendants, fetchJson, getStatus, isRunning, makeTempDirs, runInNewKernel, Sidecar, startSidecar, TempDirs, tokenHeader, waitFor } from '../support/sidecar';
import { auditRows } from '../reset/support';
import { cgroupUnavailable } from '../support/containment';

/**
 * A user of these tests alone: the uid strategy ends every process of its
 * notebook user, so it must not share one with test files that may run beside it.
 */
const USER = 'gpuws-contain';
const DEVICE_GROUP = 'gpuws-gpu';
const skip = process.getuid?.() === 0 ? false : 'needs root to create a notebook user and a cgroup (CI runs as root)';
/** Short enough to wait for; the test keeps the workspace awake with heartbeats until it wants the stop. */
const IDLE_TIMEOUT_MINUTES = 0.25;

/** Creates the user and the device group once; both are left for later runs (useradd is slow). */
function ensureAccounts(): { uid: number; deviceGid: number } {
  const { uid } = ensureAccount(USER, DEVICE_GROUP);
  const deviceGid = Number(execFileSync('getent', ['group', DEVICE_GROUP], { encoding: 'utf8' }).split(':')[2]);
  return { uid, deviceGid };
}

/** Stand-in GPU device nodes owned by the device group (0660): Jupyter gets the group in GPU mode only. */
function fakeDeviceNodes(root: string, gid: number): string {
  const dev = path.join(root, 'dev');
  fs.mkdirSync(dev, { mode: 0o755 });
  for (const name of ['nvidia0', 'nvidiactl']) {
    const file = path.join(dev, name);
    fs.writeFileSync(file, 'device\n');
    fs.chownSync(file, 0, gid);
    fs.chmodSync(file, 0o660);
  }
  return dev;
}

/** The supplementary groups of a live process. */
function groupsOf(pid: number): number[] {
  const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find(l => l.startsWith('Groups:')) ?? 'Groups:';
  return line.slice('Groups:'.length).trim().split(/\s+/).filter(Boolean).map(Number);
}

for (const strategy of ['cgroup', 'uid'] as ContainmentStrategy[]) {
  describe(`a process that detached from a kernel, with jupyter.containment "${strategy}"`, { skip: skip || (strategy === 'cgroup' && cgroupUnavailable()) }, () => {
    let dirs: TempDirs;
    let fakeGpu: FakeGpu;
    let sidecar: Sidecar;
    let deviceGid: number;
    let heartbeats: NodeJS.Timeout | null = null;
    let detachedCount = 0;
    let config: Record<string, unknown>;

    /** Heartbeats as an open page sends them: the idle clock never runs out while tests switch and reset. */
    const keepAwake = (): void => {
      const beat = (): void =>
        void fetch(sidecar.apiUrl('activity'), { method: 'POST', headers: { ...tokenHeader(sidecar), 'content-type': 'application/json' }, body: '{}' })
          .then(r => r.arrayBuffer())
          .catch(() => undefined);
      beat();
      heartbeats = setInterval(beat, 1000);
    };
    const stopHeartbeats = (): void => {
      if (heartbeats) {
        clearInterval(heartbeats);
        heartbeats = null;
      }
    };

    /**
     * From a kernel, `setsid -f` a sleep that writes its pid to a file in the
     * home; resolves with that pid once it runs outside Jupyter's process tree
     * (the kernel that started it is shut down meanwhile, as a user closing the notebook would).
     */
    async function startDetached(): Promise<number> {
      const pidFile = path.join(dirs.home, `detached-${++detachedCount}.pid`);
      // The cell waits for the pid file: `setsid -f` returns once it has forked, and shutting the kernel down kills its
      // process group, which the child is still in until it has called setsid (on a loaded machine, often).
      await runInNewKernel(
        sidecar,
        [
          'import os, subprocess, time',
          `subprocess.run(['setsid', '-f', 'sh', '-c', 'echo $$ > "$0.tmp" && mv "$0.tmp" "$0" && exec sleep 1000', ${JSON.stringify(pidFile)}], check=True)`,
          'deadline = time.monotonic() + 60',
          `while not os.path.exists(${JSON.stringify(pidFile)}) and time.monotonic() < deadline: time.sleep(0.05)`
        ].join('\n')
      );
      const pid = await waitFor('the detached process to write its pid', () => (fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8').trim()) : undefined));
      const jupyterPid = (await getStatus(sidecar)).jupyter.pid as number;
      assert.ok(isRunning(pid), 'precondition: the detached process runs');
      assert.ok(!descendants(jupyterPid).some(p => p.pid === pid), "precondition: it left Jupyter's process tree");
      return pid;
    }

    before(async () => {
      ({ deviceGid } = ensureAccounts());
      dirs = makeTempDirs();
      // The notebook user must traverse to its home; the state directory stays the sidecar's (0700).
      fs.chmodSync(dirs.root, 0o755);
      fs.rmSync(dirs.home, { recursive: true, force: true });
      const dev = fakeDeviceNodes(dirs.root, deviceGid);
      fakeGpu = makeFakeGpu();
      config = {
          // Heartbeats and status calls must not wait for Jupyter while it restarts.
          api: { identity_cache_seconds: 300 },
          jupyter: { user: USER, containment: strategy },
          gpu: { nvidia_smi: FAKE_NVIDIA_SMI, device_group: DEVICE_GROUP, device_paths: [`${dev}/nvidia*`], watchdog_seconds: 0.5 },
          idle: { timeout_minutes: IDLE_TIMEOUT_MINUTES, warning_minutes: 0 },
          snapshots: { schedule_minutes: 0, before_gpu_switch: false }
      };
      sidecar = await startSidecar({ dirs, env: fakeGpu.env, config });
      keepAwake();
    });

    after(async () => {
      stopHeartbeats();
      await sidecar?.stop();
      dirs?.remove();
      fakeGpu?.remove();
    });

    test(`the status names the ${strategy} strategy, under which nothing escapes`, async () => {
      const { containment } = (await getStatus(sidecar)).isolation;
      assert.equal(containment.strategy, strategy);
      assert.equal(containment.escapes, false);
    });

    test('it is gone after the switch from GPU to CPU mode', async () => {
      await switchGpu(sidecar, true);
      const pid = await startDetached();
      assert.ok(groupsOf(pid).includes(deviceGid), 'precondition: started in GPU mode, it holds the GPU device group');
      await switchGpu(sidecar, false);
      const survived = isRunning(pid);
      assert.equal(survived, false, survived ? `pid ${pid} still runs in CPU mode, with groups ${groupsOf(pid).join(',')}` : '');
    });

    test('it is gone after a reset', async () => {
      await switchGpu(sidecar, true);
      const pid = await startDetached();
      const res = await fetchJson<ResetResponse>(sidecar.apiUrl('reset'), {
        method: 'POST',
        headers: { ...tokenHeader(sidecar), 'content-type': 'application/json' },
        body: JSON.stringify({ confirm: 'Reset data' }),
        signal: AbortSignal.timeout(180_000)
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(isRunning(pid), false, `pid ${pid} outlived the reset`);
    });

    test('in CPU mode the watchdog stops it when it holds GPU memory, and writes an audit row', async () => {
      await switchGpu(sidecar, false);
      const pid = await startDetached();
      fs.writeFileSync(path.join(fakeGpu.dir, 'apps.csv'), `${pid}, 2048\n`);
      try {
        const status = await waitFor(
          'the watchdog to stop the detached process',
          async () => {
            const s = await gpuStatus(sidecar);
            return s.gpu.watchdog_stopped.some(stop => stop.pid === pid) ? s : undefined;
          },
          { timeoutMs: 15_000 }
        );
        await waitFor('the detached process to be gone', () => (isRunning(pid) ? undefined : true), { timeoutMs: 10_000 });
        const stop = status.gpu.watchdog_stopped.find(s => s.pid === pid);
        assert.match(stop?.command ?? '', /sleep 1000/);
        const rows = auditRows(dirs.stateDir, 'gpu.watchdog_stopped').filter(r => r.detail.pid === pid);
        assert.equal(rows.length, 1, 'one audit row');
        assert.equal(rows[0].actor, 'system');
        assert.match(String(rows[0].detail.command), /sleep 1000/);
        assert.equal(rows[0].detail.used_memory_mib, 2048);
      } finally {
        fs.rmSync(path.join(fakeGpu.dir, 'apps.csv'), { force: true });
      }
    });

    test('it is gone after an idle stop', async () => {
      await switchGpu(sidecar, true);
      const pid = await startDetached();
      stopHeartbeats();
      await waitFor(
        'the idle stop',
        async () => {
          const s = await getStatus(sidecar);
          const idle: IdleStatus = s.idle;
          return idle.state === 'stopped' && !idle.starting && s.jupyter.state === 'stopped' ? true : undefined;
        },
        { timeoutMs: IDLE_TIMEOUT_MINUTES * 60_000 + 60_000, intervalMs: 100 }
      );
      assert.equal(isRunning(pid), false, `pid ${pid} outlived the idle stop`);
    });

    test('what a killed sidecar left running is gone once the workspace starts again', async () => {
      // Awake again before the start: the idle stop above ended the heartbeats, and on a loaded machine the start and
      // the kernel can take longer than the idle timeout, which would stop the workspace under the test.
      keepAwake();
      const start = await fetchJson(sidecar.apiUrl('server/start'), { method: 'POST', headers: { ...tokenHeader(sidecar), 'content-type': 'application/json' }, body: '{}' });
      assert.ok(start.status === 200 || start.status === 202, JSON.stringify(start.body));
      await waitFor('the workspace running again', async () => ((await getStatus(sidecar)).jupyter.state === 'running' ? true : undefined), { timeoutMs: 120_000 });
      const pid = await startDetached();
      stopHeartbeats();
      assert.ok(await sidecar.signalAndWait('SIGKILL', 10_000), 'the sidecar died');
      assert.ok(isRunning(pid), 'precondition: the detached process outlived its sidecar');
      sidecar = await startSidecar({ dirs, env: fakeGpu.env, config });
      keepAwake();
      assert.equal(isRunning(pid), false, `pid ${pid} outlived the next start`);
    });
  });
}
