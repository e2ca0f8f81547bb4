/**
 * Stopping the sidecar stops everything it started: no Jupyter server and no
 * kernel is left running after it exits.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { descendants, getStatus, isRunning, Sidecar, startKernel, startSidecar, waitFor } from '../support/sidecar';

describe('SIGTERM to the sidecar with a kernel running', () => {
  let sidecar: Sidecar;

  before(async () => {
    sidecar = await startSidecar();
  });

  after(async () => {
    await sidecar?.stop();
  });

  test('exits 0 and leaves neither Jupyter nor the kernel running', async () => {
    const jupyterPid = (await getStatus(sidecar)).jupyter.pid;
    assert.ok(jupyterPid, 'status should report the Jupyter pid');
    await startKernel(sidecar);
    const kernels = await waitFor(
      'the kernel process to appear under Jupyter',
      () => {
        const found = descendants(jupyterPid).filter(p => p.cmdline.includes('ipykernel'));
        return found.length ? found : undefined;
      },
      { timeoutMs: 30_000 }
    );
    // Everything the sidecar started: Jupyter, the kernel, and any helper processes.
    const everything = Array.from(new Set([jupyterPid, ...kernels.map(k => k.pid), ...descendants(sidecar.pid).map(p => p.pid)]));

    const exit = await sidecar.signalAndWait('SIGTERM', 60_000);
    assert.ok(exit, 'the sidecar should exit within 60 s of SIGTERM');
    assert.deepEqual(exit, { code: 0, signal: null });

    // The sidecar waits for its children before it exits; the short bounded wait only lets a process
    // that was just sent SIGKILL finish dying (zombies count as gone).
    const leftover = await waitFor(
      'Jupyter and the kernel to be gone',
      () => (everything.some(isRunning) ? undefined : true),
      { timeoutMs: 5_000, intervalMs: 100 }
    ).then(
      () => [],
      () => everything.filter(isRunning)
    );
    assert.deepEqual(
      leftover,
      [],
      `still running after the sidecar exited: ${leftover.map(pid => `${pid} (${pid === jupyterPid ? 'Jupyter' : 'kernel or helper'})`).join(', ')}`
    );
  });
});
