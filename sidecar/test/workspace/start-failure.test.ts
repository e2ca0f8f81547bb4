/**
 * A start-up that fails half way undoes what it built, as close() would:
 * the front door's port and the state directory's lock are free again, and
 * nothing Jupyter's launch left in the workspace's cgroup is still running.
 * Run in process: the CLI exits on a failed start, which hides what a failed
 * serve() leaves behind. (This guards the one teardown list of workspace.ts;
 * the old separate failure path passed it too.)
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { createLogger } from '../../src/log';
import { lockStateDir } from '../../src/state/lock';
import { serve } from '../../src/workspace';
import { loadWorkspaceConfig } from '../../src/workspaceConfig';
import { cgroupUnavailable } from '../support/containment';
import { freePort, processesMentioning, waitFor } from '../support/sidecar';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-workspace-start-failure-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** A "Jupyter" that leaves a child in the workspace and exits before it is ready. */
function failingJupyter(marker: string): string[] {
  return ['/bin/sh', '-c', `sleep ${marker} & exit 3`, 'jupyter'];
}

for (const containment of ['cgroup', 'tree'] as const) {
  const skip = containment === 'cgroup' ? cgroupUnavailable() : false;
  test(`with jupyter.containment ${containment}, a failed start frees the port and the lock, and leaves nothing running`, { skip }, async () => {
    const home = fs.mkdtempSync(path.join(root, 'home-'));
    const stateDir = fs.mkdtempSync(path.join(root, 'state-'));
    // A number no other process on the machine has on its command line.
    const marker = `${300 + Math.floor(Math.random() * 1000)}.${process.pid}`;
    const config = loadWorkspaceConfig(undefined, {});
    config.jupyter.command = failingJupyter(marker);
    config.jupyter.containment = containment;
    config.jupyter.start_timeout_seconds = 30;
    config.snapshots.schedule_minutes = 0;
    const port = await freePort();

    await assert.rejects(serve({ port, home, stateDir, config, token: 'start-failure-test-token', logger: createLogger('error') }));

    // The port: the front door was listening on it before Jupyter failed.
    const probe = net.createServer();
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(port, '127.0.0.1', resolve);
    });
    await new Promise(resolve => probe.close(resolve));
    // The lock: a second sidecar may take this state directory now.
    lockStateDir(path.resolve(stateDir)).release();
    if (containment === 'cgroup') {
      // The child Jupyter's launch left in the workspace's cgroup is ended by the sweep.
      assert.deepEqual(processesMentioning(`sleep ${marker}`), [], 'a process of the failed start is still running');
    } else {
      // The tree strategy knows no process beyond Jupyter's own: the detached child is the documented escape.
      await waitFor('the test to end the escaped child', async () => {
        for (const { pid } of processesMentioning(`sleep ${marker}`)) {
          process.kill(pid, 'SIGKILL');
        }
        return processesMentioning(`sleep ${marker}`).length === 0 ? true : undefined;
      }, { timeoutMs: 10_000 });
    }
  });
}
