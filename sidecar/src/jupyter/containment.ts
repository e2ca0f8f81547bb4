import type { ContainmentStatus, ContainmentStrategy } from '@jupyterlab-gpu-workspace/api';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StartupError } from '../errors';
import type { Launch, RunAs } from './launch';
import { processUid } from './processOwner';
import { descendantsOf, listPids, signal } from './processes';

/**
 * What "the workspace" is when it is stopped, switched, reset or watched for
 * GPU use. Jupyter's process tree is not enough: a kernel or terminal can
 * leave it (`setsid -f`, a double fork) and then outlive every stop, keeping
 * the GPU device group it was started with. So the workspace is, in order of
 * preference, a cgroup v2 of its own (nothing born in it can leave it), every
 * process of the notebook user's real uid, or, where neither is possible, the
 * process tree, with the status saying what escapes it.
 */
export interface Containment {
  readonly strategy: ContainmentStrategy;
  readonly status: ContainmentStatus;
  /** The command line that starts Jupyter inside the workspace (the cgroup: a wrapper that joins it first). */
  launch(inner: Launch): Launch;
  /** Whether `pid` belongs to the workspace; `jupyterPid` (the running server, if any) is the tree strategy's root. */
  contains(pid: number, jupyterPid: number | null): boolean;
  /** Live processes of the workspace beyond what the supervisor ends itself (the tree strategy: none known). */
  members(): number[];
  /** Ends everything left in the workspace: SIGTERM, up to `graceMs`, then SIGKILL until nothing is left. */
  sweep(graceMs: number): Promise<SweepResult>;
  /** After the last stop: removes what start-up made (the cgroup). Never throws. */
  close(): Promise<void>;
  /** The same, synchronously and best effort, for a start-up that failed half way. */
  closeSync(): void;
}

export interface SweepResult {
  /** Processes found when the sweep began. */
  found: number[];
  /** Processes still there when it gave up (none, unless something resists SIGKILL: uninterruptible sleep). */
  left: number[];
}

/** How long SIGKILL is repeated (new children of dying processes) before a sweep gives up. */
const KILL_FOR_MS = 5000;
const POLL_MS = 25;

const delay = (ms: number): Promise<void> => new Promise(r => setTimeout(r, ms));

/** The shared shape of a sweep: polite first, then by force until nothing is left. */
async function sweepWith(members: () => number[], kill: (pids: number[]) => void, graceMs: number): Promise<SweepResult> {
  const found = members();
  if (!found.length) {
    return { found, left: [] };
  }
  found.forEach(pid => signal(pid, 'SIGTERM'));
  let left = found;
  const graceEnd = Date.now() + graceMs;
  while (left.length && Date.now() < graceEnd) {
    await delay(POLL_MS);
    left = members();
  }
  // Repeated: a process that forks while it is killed leaves children that the next round finds.
  const killEnd = Date.now() + KILL_FOR_MS;
  while (left.length && Date.now() < killEnd) {
    kill(left);
    await delay(POLL_MS);
    left = members();
  }
  return { found, left };
}

// ---------------------------------------------------------------- tree

/** Jupyter's descendants, as before: the supervisor ends that tree itself; nothing else is known. */
export function treeContainment(reason: string): Containment {
  return {
    strategy: 'tree',
    status: { strategy: 'tree', scope: "Jupyter's process tree", escapes: true, reason },
    launch: inner => inner,
    contains: (pid, jupyterPid) => jupyterPid !== null && (pid === jupyterPid || descendantsOf(jupyterPid).includes(pid)),
    members: () => [],
    sweep: async () => ({ found: [], left: [] }),
    close: async () => undefined,
    closeSync: () => undefined
  };
}

// ---------------------------------------------------------------- uid

/** The real uid of a live process (the first field of `Uid:`), null for a zombie or a process that is gone. */
export const realUid = processUid;

/**
 * Every process whose REAL uid is the notebook user's. By real uid only: the
 * sidecar's own helpers that act for the user (restic and the like) run with
 * real uid 65534 and effective uid the user's, so that a sweep never ends them.
 * Assumes one workspace per notebook user.
 */
export function uidContainment(runAs: RunAs, reason: string): Containment {
  const uid = runAs.user.uid;
  const members = (): number[] => listPids().filter(pid => pid !== process.pid && realUid(pid) === uid);
  return {
    strategy: 'uid',
    status: { strategy: 'uid', scope: `every process of uid ${uid} (${runAs.user.name})`, escapes: false, reason },
    launch: inner => inner,
    contains: pid => realUid(pid) === uid,
    members,
    // A pid may be reused between the scan and the signal; the window is one /proc read, and a reused pid
    // would have to be the notebook user's again to be found in the next round.
    sweep: graceMs => sweepWith(members, pids => pids.forEach(pid => signal(pid, 'SIGKILL')), graceMs),
    close: async () => undefined,
    closeSync: () => undefined
  };
}

// ---------------------------------------------------------------- cgroup

/** Where the cgroup v2 hierarchy is mounted, and which of its paths that mount shows. */
interface Cgroup2Mount {
  mountPoint: string;
  root: string;
}

/** mountinfo escapes spaces, tabs, newlines and backslashes as octal. */
const unescapeMount = (field: string): string => field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));

export function cgroup2Mounts(mountinfo: string): Cgroup2Mount[] {
  const out: Cgroup2Mount[] = [];
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!right || right.split(' ')[0] !== 'cgroup2') {
      continue;
    }
    const fields = left.split(' ');
    out.push({ root: unescapeMount(fields[3]), mountPoint: unescapeMount(fields[4]) });
  }
  return out;
}

/** The v2 cgroup path of a process (`0::PATH` in /proc/PID/cgroup), null when it has none or is gone. */
export function cgroupOf(pid: number | 'self'): string | null {
  try {
    const line = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find(l => l.startsWith('0::'));
    return line ? line.slice(3) : null;
  } catch {
    return null;
  }
}

/** A name that is stable across restarts of one workspace and different for another state directory. */
export function cgroupName(stateDir: string): string {
  let real = stateDir;
  try {
    real = fs.realpathSync(stateDir);
  } catch {
    // Not there yet: the path as given is as stable.
  }
  return `gpu-workspace-${createHash('sha256').update(real).digest('hex').slice(0, 16)}`;
}

interface CgroupPlace {
  /** The cgroup's path in the hierarchy, as /proc/PID/cgroup shows it. */
  path: string;
  /** Its folder in the cgroup2 mount. */
  dir: string;
}

/** Where the workspace's cgroup goes: a child of the sidecar's own, in a mount that shows it. Throws saying why not. */
function placeCgroup(name: string): CgroupPlace {
  const own = cgroupOf('self');
  if (own === null) {
    throw new Error('the sidecar is in no cgroup v2 (no "0::" line in /proc/self/cgroup)');
  }
  let mountinfo: string;
  try {
    mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch (err) {
    throw new Error(`cannot read /proc/self/mountinfo: ${(err as Error).message}`);
  }
  const mounts = cgroup2Mounts(mountinfo);
  if (!mounts.length) {
    throw new Error('no cgroup v2 hierarchy is mounted (none in /proc/self/mountinfo)');
  }
  const inside = (root: string): boolean => root === '/' || own === root || own.startsWith(`${root}/`);
  const mount = mounts.find(m => inside(m.root));
  if (!mount) {
    throw new Error(`the sidecar's cgroup ${own} is not visible in any cgroup v2 mount`);
  }
  const cgPath = path.posix.join(own, name);
  const rel = mount.root === '/' ? own : own.slice(mount.root.length);
  return { path: cgPath, dir: path.join(mount.mountPoint, rel, name) };
}

/** Every cgroup folder from `dir` down, deepest first (the order rmdir needs). */
function cgroupTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    let entries: fs.Dirent[] = [];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isDirectory()) {
        walk(path.join(d, e.name));
      }
    }
    out.push(d);
  };
  walk(dir);
  return out;
}

function readProcs(dir: string): number[] {
  try {
    return fs
      .readFileSync(path.join(dir, 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * Makes (or takes back, after a crash) the workspace's cgroup and proves that
 * a process can be moved into it. Throws saying why not: no v2 hierarchy, no
 * right to create it, or the kernel refuses the move.
 */
function makeCgroup(name: string): CgroupPlace & { killFile: boolean } {
  const place = placeCgroup(name);
  const parent = path.dirname(place.dir);
  const euid = process.geteuid?.() ?? -1;
  // Root never works in a folder someone else can change: a cgroup delegated to another user is not ours to use.
  const parentStat = fs.statSync(parent);
  if (parentStat.uid !== euid || (parentStat.mode & 0o022) !== 0) {
    throw new Error(`the sidecar's cgroup folder ${parent} is not the sidecar's alone (owner uid ${parentStat.uid}, mode ${(parentStat.mode & 0o777).toString(8)})`);
  }
  try {
    fs.mkdirSync(place.dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST') {
      throw new Error(`cannot create ${place.dir}: ${(err as Error).message}`);
    }
    // Left by a sidecar that was killed: the next sweep ends whatever still runs in it.
  }
  const st = fs.lstatSync(place.dir);
  if (!st.isDirectory() || st.uid !== euid) {
    throw new Error(`${place.dir} exists and is not the sidecar's own cgroup`);
  }
  // The same move the launch wrapper makes, once, by a shell that exits at once.
  const probe = spawnSync('/bin/sh', ['-c', 'echo $$ > "$0"', path.join(place.dir, 'cgroup.procs')], { encoding: 'utf8', timeout: 10_000 });
  if (probe.status !== 0) {
    const why = (probe.stderr || probe.error?.message || `exit ${probe.status}`).trim();
    try {
      fs.rmdirSync(place.dir);
    } catch {
      // Someone else's processes may be in it; leave it.
    }
    throw new Error(`cannot move a process into ${place.dir}: ${why}`);
  }
  return { ...place, killFile: fs.existsSync(path.join(place.dir, 'cgroup.kill')) };
}

/**
 * A cgroup v2 of the workspace's own. Jupyter is started through a shell that
 * writes its own pid into cgroup.procs before exec'ing the real command line,
 * so Jupyter, and so every kernel, terminal and detached child, is born in it:
 * there is no moment at which a child could be started outside. The notebook
 * user cannot write the cgroup's files (root's), so cannot leave it.
 */
export function cgroupContainment(stateDir: string): Containment {
  const place = makeCgroup(cgroupName(stateDir));
  const members = (): number[] => Array.from(new Set(cgroupTree(place.dir).flatMap(readProcs))).filter(pid => pid !== process.pid);
  const kill = (pids: number[]): void => {
    if (place.killFile) {
      try {
        // Kills every process of the cgroup and of its children at once, in the kernel: no fork race.
        fs.writeFileSync(path.join(place.dir, 'cgroup.kill'), '1');
        return;
      } catch {
        // Fall through to one signal each.
      }
    }
    pids.forEach(pid => signal(pid, 'SIGKILL'));
  };
  const removeSync = (): boolean => {
    let ok = true;
    for (const dir of cgroupTree(place.dir)) {
      try {
        fs.rmdirSync(dir);
      } catch {
        ok = false;
      }
    }
    return ok;
  };
  return {
    strategy: 'cgroup',
    status: { strategy: 'cgroup', scope: `cgroup ${place.path}`, escapes: false, reason: null },
    launch: inner => ({
      file: '/bin/sh',
      // "$0" is the cgroup.procs file, "$@" the real command line: no part of either is parsed by the shell.
      argv: ['-c', 'echo $$ > "$0" && exec "$@"', path.join(place.dir, 'cgroup.procs'), inner.file, ...inner.argv]
    }),
    contains: pid => {
      const cg = cgroupOf(pid);
      return cg !== null && (cg === place.path || cg.startsWith(`${place.path}/`));
    },
    members,
    sweep: graceMs => sweepWith(members, kill, graceMs),
    close: async () => {
      await sweepWith(members, kill, 0);
      // A killed process leaves the cgroup a moment after it died; rmdir refuses (EBUSY) until then.
      const end = Date.now() + KILL_FOR_MS;
      while (!removeSync() && Date.now() < end) {
        await delay(POLL_MS);
      }
    },
    closeSync: () => void removeSync()
  };
}

// ---------------------------------------------------------------- choice

export type ContainmentSetting = 'auto' | ContainmentStrategy;

/**
 * Chooses the strategy at start: the one asked for (a start-up error where it
 * cannot be used), or with `auto` the strongest that works here.
 */
export function setUpContainment(options: { setting: ContainmentSetting; stateDir: string; runAs: RunAs | null }): Containment {
  const { setting, stateDir, runAs } = options;
  let cgroupProblem: string | null = null;
  if (setting === 'auto' || setting === 'cgroup') {
    try {
      return cgroupContainment(stateDir);
    } catch (err) {
      cgroupProblem = (err as Error).message;
      if (setting === 'cgroup') {
        throw new StartupError(
          `jupyter.containment is "cgroup", but no cgroup can be made for the workspace: ${cgroupProblem}. ` +
            'Run the sidecar as root with cgroup v2 mounted (or in a cgroup delegated to it), or set jupyter.containment to "auto".'
        );
      }
    }
  }
  const noCgroup = cgroupProblem === null ? 'jupyter.containment is set to this strategy' : `no cgroup could be used (${cgroupProblem})`;
  if (setting === 'uid' || (setting === 'auto' && runAs)) {
    if (!runAs) {
      throw new StartupError('jupyter.containment is "uid", but jupyter.user is not set: the uid strategy stops every process of the notebook user. Set jupyter.user, or jupyter.containment to "auto".');
    }
    return uidContainment(
      runAs,
      `${noCgroup}: the workspace is every process of ${runAs.user.name}, so this assumes one workspace per notebook user; anything else ${runAs.user.name} runs on this machine is stopped with it.`
    );
  }
  return treeContainment(
    `${noCgroup}${setting === 'tree' ? '' : ', and jupyter.user is not set'}: stops, GPU switches, resets and the GPU watchdog reach only Jupyter's process tree, so a process that detaches from it (setsid, a double fork) keeps running, and in CPU mode keeps a GPU it opened in GPU mode.`
  );
}
