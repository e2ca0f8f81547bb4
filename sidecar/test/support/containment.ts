/**
 * Whether this machine lets the sidecar make a workspace cgroup: the cgroup
 * tests run where it does (CI: root, cgroup v2 mounted) and are skipped,
 * saying why, where it does not (an unprivileged container, say).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cgroupContainment } from '../../src/jupyter/containment';

let answer: string | false | undefined;

/** false where a workspace cgroup can be made here; else why not, as a skip reason. */
export function cgroupUnavailable(): string | false {
  if (answer !== undefined) {
    return answer;
  }
  if (process.getuid?.() !== 0) {
    return (answer = 'needs root to make a cgroup (CI runs as root)');
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-workspace-cgroup-probe-'));
  try {
    cgroupContainment(dir).closeSync();
    answer = false;
  } catch (err) {
    answer = `no workspace cgroup can be made here: ${(err as Error).message}`;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return answer;
}
