/**
 * Snapshots other parts of the workspace take: before a GPU switch (tagged
 * "gpu-switch"), and a switch that goes on when no snapshot can be taken.
 * Real sidecar, Jupyter and restic; nvidia-smi is the test stand-in.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { SnapshotListResponse } from '@jupyterlab-gpu-workspace/api';
import { FAKE_NVIDIA_SMI, FakeGpu, makeFakeGpu, switchGpu } from '../support/gpu';
import { fetchJson, makeTempDirs, Sidecar, startSidecar, TempDirs, tokenHeader } from '../support/sidecar';

async function snapshots(sidecar: Sidecar): Promise<SnapshotListResponse> {
  const res = await fetchJson<SnapshotListResponse>(sidecar.apiUrl('snapshots'), { headers: tokenHeader(sidecar) });
  assert.equal(res.status, 200);
  return res.body;
}

describe('snapshots before a GPU switch', () => {
  let fakeGpu: FakeGpu;
  let dirs: TempDirs;
  let sidecar: Sidecar;

  before(async () => {
    fakeGpu = makeFakeGpu();
    dirs = makeTempDirs();
    fs.writeFileSync(path.join(dirs.home, 'train.py'), 'print("hi")\n');
    sidecar = await startSidecar({
      dirs,
      env: fakeGpu.env,
      config: { home: { cap_bytes: 1_000_000 }, snapshots: { schedule_minutes: 0 }, gpu: { nvidia_smi: FAKE_NVIDIA_SMI, quota: { hours: 10 } } }
    });
  });

  after(async () => {
    await sidecar?.stop();
    fakeGpu?.remove();
    dirs?.remove();
  });

  test('switching GPU mode on takes a snapshot tagged gpu-switch first', async () => {
    assert.equal((await snapshots(sidecar)).snapshots.length, 0);
    const { gpu } = await switchGpu(sidecar, true);
    assert.equal(gpu.mode, 'on');
    const list = await snapshots(sidecar);
    assert.deepEqual(
      list.snapshots.map(s => s.trigger),
      ['gpu-switch']
    );
  });

  test('over the cap no snapshot can be taken, and the switch happens all the same', async () => {
    fs.writeFileSync(path.join(dirs.home, 'too-big.bin'), Buffer.alloc(2_000_000));
    const { gpu } = await switchGpu(sidecar, false);
    assert.equal(gpu.mode, 'off');
    assert.equal(gpu.last_error, null);
    assert.equal((await snapshots(sidecar)).snapshots.length, 1);
    assert.match(sidecar.stderr(), /no snapshot before the GPU switch.*over its 1.00 MB cap/);
  });
});
