/**
 * `idle.signals: user_or_kernels` against a real sidecar and Jupyter: a busy
 * kernel and a terminal writing output hold the idle clock back; once they
 * are quiet, the stop comes. (With the default `user`, neither counts: see
 * controller.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { IdleStatus } from '@jupyterlab-gpu-workspace/api';
import { execute, openWebSocket } from '../support/kernel';
import { fetchJson, getStatus, Sidecar, startKernel, startSidecar, tokenHeader, waitFor } from '../support/sidecar';

const TIMEOUT_MINUTES = 0.1; // 6 s
const TIMEOUT_MS = TIMEOUT_MINUTES * 60_000;

let sidecar: Sidecar;

before(async () => {
  sidecar = await startSidecar({
    config: { idle: { timeout_minutes: TIMEOUT_MINUTES, warning_minutes: 0.02, signals: 'user_or_kernels', kernel_poll_seconds: 0.5 } }
  });
});

after(async () => {
  await sidecar?.stop();
});

const idleOf = async (): Promise<IdleStatus> => (await getStatus(sidecar)).idle;

/** Reads the deadline now, waits until 2 s past it, and returns that first deadline with the idle state then. */
async function outlivesTheDeadline(): Promise<{ firstDeadline: number; later: IdleStatus }> {
  const first = await idleOf();
  assert.ok(first.deadline, JSON.stringify(first));
  const firstDeadline = Date.parse(first.deadline);
  const later = await waitFor('the first deadline to pass', async () => (Date.now() > firstDeadline + 2000 ? idleOf() : undefined), {
    timeoutMs: TIMEOUT_MS + 10_000,
    intervalMs: 200
  });
  return { firstDeadline, later };
}

describe('idle.signals user_or_kernels', () => {
  test('a busy kernel holds the clock back; when it is done, the clock runs from then', async () => {
    const kernelId = await startKernel(sidecar);
    const ws = await openWebSocket(sidecar.url(`api/kernels/${kernelId}/channels?token=${sidecar.token}`).replace(/^http/, 'ws'));
    try {
      await fetchJson(sidecar.apiUrl('activity'), { method: 'POST', headers: { ...tokenHeader(sidecar), 'content-type': 'application/json' }, body: '{}' });
      const busy = execute(ws, 'import time; time.sleep(10)', 60_000);
      const { firstDeadline, later } = await outlivesTheDeadline();
      assert.notEqual(later.state, 'stopped', 'a busy kernel is activity');
      assert.ok(later.deadline && Date.parse(later.deadline) > firstDeadline, 'the deadline moved on');
      await busy;
    } finally {
      ws.close();
    }
  });

  test('a terminal writing output holds the clock back; when it falls quiet, the stop comes', async () => {
    const created = await fetchJson<{ name: string }>(sidecar.url('api/terminals'), { method: 'POST', headers: tokenHeader(sidecar) });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const ws = await openWebSocket(sidecar.url(`terminals/websocket/${created.body.name}?token=${sidecar.token}`).replace(/^http/, 'ws'));
    try {
      ws.send(JSON.stringify(['stdin', 'for i in $(seq 1 12); do echo tick; sleep 1; done\r']));
      const { firstDeadline, later } = await outlivesTheDeadline();
      assert.notEqual(later.state, 'stopped', 'terminal output is activity');
      assert.ok(later.deadline && Date.parse(later.deadline) > firstDeadline, 'the deadline moved on');
      const stopped = await waitFor('the stop after the output ends', async () => {
        const s = await idleOf();
        return s.state === 'stopped' ? s : undefined;
      }, { timeoutMs: 12_000 + TIMEOUT_MS + 20_000, intervalMs: 200 });
      assert.ok(stopped.stopped_at);
    } finally {
      ws.close();
    }
  });
});
