/**
 * Whether CPU mode can hold by the operating system's permissions, decided
 * from the GPU device nodes as they are on this machine.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { cpuModeEnforcement, findDeviceNodes } from '../../src/gpu/deviceNodes';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-devnodes-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

function nodes(mode: number, gid = process.getgid?.() ?? 0): string {
  const dir = fs.mkdtempSync(path.join(root, 'dev-'));
  for (const name of ['nvidia0', 'nvidiactl', 'other']) {
    fs.writeFileSync(path.join(dir, name), '');
    fs.chmodSync(path.join(dir, name), mode);
    fs.chownSync(path.join(dir, name), process.getuid?.() ?? 0, gid);
  }
  return dir;
}

test('a trailing * matches the device nodes and nothing else', () => {
  const dir = nodes(0o660);
  assert.deepEqual(findDeviceNodes([`${dir}/nvidia*`]).map(n => path.basename(n.path)).sort(), ['nvidia0', 'nvidiactl']);
  assert.deepEqual(findDeviceNodes([`${dir}/nothing*`]), []);
});

test('nodes open to everyone: not enforced, saying which and what to do (the watchdog still runs)', () => {
  const found = findDeviceNodes([`${nodes(0o666)}/nvidia*`]);
  const verdict = cpuModeEnforcement({ isolated: true, deviceGroup: 'video', deviceGid: process.getgid?.() ?? 0, nodes: found });
  assert.equal(verdict.enforced, false);
  assert.match(verdict.reason ?? '', /open to everyone: .*nvidia0 \(mode 666\)/);
  assert.match(verdict.reason ?? '', /watchdog/);
});

test('group-only nodes of the device group, with the notebook user apart: enforced', () => {
  const gid = process.getgid?.() ?? 0;
  const found = findDeviceNodes([`${nodes(0o660, gid)}/nvidia*`]);
  assert.deepEqual(cpuModeEnforcement({ isolated: true, deviceGroup: 'video', deviceGid: gid, nodes: found }), { enforced: true, reason: null });
});

test('without a device group, or with Jupyter as the sidecar\'s user, CPU mode rests on CUDA_VISIBLE_DEVICES alone', () => {
  const found = findDeviceNodes([`${nodes(0o660)}/nvidia*`]);
  assert.match(cpuModeEnforcement({ isolated: true, deviceGroup: undefined, deviceGid: null, nodes: found }).reason ?? '', /gpu\.device_group is not set/);
  assert.match(cpuModeEnforcement({ isolated: false, deviceGroup: 'video', deviceGid: 0, nodes: found }).reason ?? '', /jupyter\.user/);
});

test('no GPU device nodes at all: nothing to keep away, so enforced', () => {
  assert.deepEqual(cpuModeEnforcement({ isolated: false, deviceGroup: undefined, deviceGid: null, nodes: [] }), { enforced: true, reason: null });
});
