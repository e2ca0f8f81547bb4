import { ChildProcess, spawn, StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';
import { launchGroups, RunAs, SETPRIV } from './launch';

/**
 * The one way the sidecar starts a program that works on the notebook user's
 * files for the sidecar's own purposes (restic, the home zip and submission
 * readers, du, cp, mv, rm): never the notebook user's own processes (Jupyter,
 * hooks), which are launch.ts's.
 *
 * With a notebook user, the program runs as
 *
 *   setpriv --ruid=65534 --rgid=65534 --euid=U --egid=G --groups=... --no-new-privs -- PROGRAM
 *
 * File access goes by the effective (fs) ids, so the program reads and writes
 * exactly what the user may, and a link the user swaps into the home can only
 * lead it where the user could go anyway. The real ids are deliberately not
 * the user's (65534, "nobody"): the kernel then marks the process
 * non-dumpable at exec (real and effective ids differ), so /proc/PID/{cwd,fd,
 * environ,mem} stay root's and the user's own processes can neither ptrace it
 * nor enter its working folder. That is what lets restic run as the user with
 * its working folder inside the root-only state directory (the repository
 * reached by relative paths from there) while the user cannot reach the
 * repository by any name. It also keeps these helpers out of "every process
 * whose real uid is the notebook user's", which stops and resets sweep.
 * (Processes of the user can still signal a helper, as its saved uid is
 * theirs: that can only make the user's own operation fail or hit its
 * deadline.) The GPU device group is never among its groups. A shell run
 * this way needs `-p`: dash and bash otherwise reset the effective ids to the
 * real ones when they differ.
 *
 * The parent-death signal cannot be set on such a process: the kernel clears
 * it at every exec whose real and effective ids differ (a "secure" exec). So
 * a root guardian (/bin/sh, started with `setpriv --pdeathsig SIGTERM`) sits
 * between: when the sidecar dies, or asks it to stop, it passes the
 * program's stop signal on (SIGINT for restic, which then drops its lock) and
 * exits with the program's status.
 *
 * Without a notebook user, the program runs as the sidecar's user behind
 * `setpriv --pdeathsig SIG` (or bare where setpriv is missing).
 *
 * Every helper leads a process group of its own, so that a stop that does
 * not end it cleanly can SIGKILL all of it (a wrapper's children included).
 */

/** The real uid and gid of helpers run for a notebook user ("nobody"): see above. */
export const HELPER_REAL_ID = 65534;

export type StopSignal = 'SIGINT' | 'SIGTERM';

/**
 * The guardian: runs "$@" in the background with our stdin (fd 9 carries it
 * past the shell's /dev/null for background jobs), forwards SIGTERM/SIGHUP to
 * it as the stop signal $1, and exits with its status once it is gone (`wait`
 * returns early when a trap runs, so it waits again while the child lives).
 */
const GUARDIAN = [
  'sig=$1; shift',
  'exec 9<&0',
  '"$@" 0<&9 9<&- &',
  'child=$!',
  'exec 9<&-',
  'trap \'kill -s "$sig" "$child" 2>/dev/null\' TERM HUP',
  'status=0',
  'while :; do wait "$child"; status=$?; kill -0 "$child" 2>/dev/null || break; done',
  'exit "$status"'
].join('\n');

const haveSetpriv = (): boolean => fs.existsSync(SETPRIV);

export interface HelperCommand {
  file: string;
  args: string[];
  /** Whether a root guardian stands between: it is told to stop with SIGTERM, and passes the stop signal on. */
  guarded: boolean;
}

/** The setpriv arguments that give a helper the notebook user's file access and nothing more. */
export function userIdentityArgs(runAs: RunAs): string[] {
  const groups = launchGroups(runAs, false);
  return [
    `--ruid=${HELPER_REAL_ID}`,
    `--rgid=${HELPER_REAL_ID}`,
    `--euid=${runAs.user.uid}`,
    `--egid=${runAs.user.gid}`,
    groups.length ? `--groups=${groups.join(',')}` : '--clear-groups',
    '--no-new-privs'
  ];
}

/** The command line that starts `program` as a helper (see above). */
export function helperCommand(program: string, args: string[], runAs: RunAs | null, stopSignal: StopSignal): HelperCommand {
  if (!haveSetpriv()) {
    if (runAs) {
      // isolation.ts refuses a notebook user without setpriv; never run a helper as root in its place.
      throw new Error(`${SETPRIV} is missing, so nothing can be run as the notebook user.`);
    }
    return { file: program, args, guarded: false };
  }
  if (!runAs) {
    return { file: SETPRIV, args: ['--pdeathsig', stopSignal, '--', program, ...args], guarded: false };
  }
  return {
    file: SETPRIV,
    args: ['--pdeathsig', 'SIGTERM', '--', '/bin/sh', '-c', GUARDIAN, 'gpu-workspace-helper', stopSignal.slice(3), SETPRIV, ...userIdentityArgs(runAs), '--', program, ...args],
    guarded: true
  };
}

export interface HelperSpec {
  program: string;
  args: string[];
  runAs: RunAs | null;
  /**
   * The working folder. Node applies it as root before setpriv changes
   * identity, so it may be a folder the user can pass through (0711) but
   * cannot reach by name: relative paths then lead there and nowhere else.
   */
  cwd: string;
  env?: NodeJS.ProcessEnv;
  /** How the program is asked to stop: SIGINT for restic (it removes its lock), SIGTERM (the default) for the rest. */
  stopSignal?: StopSignal;
  stdio?: StdioOptions;
}

/** A started helper: ask it to stop, or end it and everything it started. */
export class Helper {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private ended = false;

  constructor(
    readonly child: ChildProcess,
    private readonly command: HelperCommand,
    private readonly stopSignal: StopSignal
  ) {
    this.exited = new Promise(resolve => {
      child.once('close', (code, signal) => {
        this.ended = true;
        resolve({ code, signal });
      });
      child.once('error', () => {
        this.ended = true;
        resolve({ code: null, signal: null });
      });
    });
  }

  get running(): boolean {
    return !this.ended && this.child.pid !== undefined;
  }

  /** Asks the program to stop the clean way (its stop signal, through the guardian when there is one). */
  interrupt(): void {
    if (this.running) {
      signal(this.child.pid as number, this.command.guarded ? 'SIGTERM' : this.stopSignal);
    }
  }

  /** SIGKILLs the helper's whole process group: the program, its guardian and anything they started. */
  kill(): void {
    if (this.child.pid !== undefined) {
      signal(-this.child.pid, 'SIGKILL');
    }
  }

  /**
   * Interrupts, waits up to `graceMs` for the exit, then kills the group and
   * waits until none of it is left. Resolves with whether SIGKILL was needed.
   */
  async stop(graceMs: number): Promise<{ killed: boolean }> {
    if (!this.running) {
      return { killed: false };
    }
    this.interrupt();
    const exitedInTime = await Promise.race([
      this.exited.then(() => true),
      new Promise<boolean>(resolve => setTimeout(() => resolve(false), graceMs).unref())
    ]);
    if (!exitedInTime) {
      this.kill();
    }
    await this.exited;
    await this.groupGone();
    return { killed: !exitedInTime };
  }

  /**
   * Waits (briefly) until no process of the helper's group is left, killing
   * what remains, so that a lock a killed restic left is seen as stale.
   */
  async groupGone(): Promise<void> {
    const pid = this.child.pid;
    if (pid === undefined) {
      return;
    }
    for (let i = 0; i < 200 && alive(-pid); i++) {
      signal(-pid, 'SIGKILL');
      await new Promise(r => setTimeout(r, 25));
    }
  }
}

function signal(target: number, sig: NodeJS.Signals): void {
  try {
    process.kill(target, sig);
  } catch {
    // Already gone.
  }
}

function alive(target: number): boolean {
  try {
    process.kill(target, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Starts a helper (see the top of this file). */
export function startHelper(spec: HelperSpec): Helper {
  const stopSignal = spec.stopSignal ?? 'SIGTERM';
  const command = helperCommand(spec.program, spec.args, spec.runAs, stopSignal);
  const child = spawn(command.file, command.args, {
    cwd: spec.cwd,
    env: spec.env ?? process.env,
    stdio: spec.stdio ?? ['ignore', 'pipe', 'pipe'],
    detached: true
  });
  return new Helper(child, command, stopSignal);
}

export interface HelperResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Set when the helper ran past `timeoutMs` and was stopped. */
  timedOut: boolean;
}

/** How much of a helper's output is kept (these programs say little; a runaway one must not fill memory). */
const MAX_OUTPUT = 1 << 20;

/**
 * Runs a helper to its end and collects its output (stdin gets `input`, then
 * EOF). With `timeoutMs`, a helper still running then is stopped (its stop
 * signal, then SIGKILL) and the result says `timedOut`.
 */
export async function runHelper(spec: HelperSpec & { input?: string; timeoutMs?: number; graceMs?: number }): Promise<HelperResult> {
  const helper = startHelper({ ...spec, stdio: ['pipe', 'pipe', 'pipe'] });
  const result: HelperResult = { code: null, signal: null, stdout: '', stderr: '', timedOut: false };
  const { child } = helper;
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (d: string) => {
    if (result.stdout.length < MAX_OUTPUT) result.stdout += d;
  });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    if (result.stderr.length < MAX_OUTPUT) result.stderr += d;
  });
  child.stdin?.on('error', () => undefined);
  child.stdin?.end(spec.input ?? '');
  let spawnError: Error | null = null;
  child.once('error', err => (spawnError = err));
  let timer: NodeJS.Timeout | undefined;
  if (spec.timeoutMs !== undefined) {
    timer = setTimeout(() => {
      result.timedOut = true;
      void helper.stop(spec.graceMs ?? 5_000);
    }, spec.timeoutMs);
  }
  const { code, signal: sig } = await helper.exited;
  clearTimeout(timer);
  if (spawnError) {
    throw new Error(`Cannot run ${spec.program}: ${(spawnError as Error).message}`);
  }
  result.code = code;
  result.signal = sig;
  return result;
}

/** A helper's failure as one line: its own last words, or how it ended. */
export function helperFailure(result: HelperResult, what: string): string {
  const words = result.stderr.trim().split('\n').filter(Boolean).slice(-3).join('; ');
  if (result.timedOut) {
    return `${what} did not finish in time and was stopped${words ? ` (${words})` : ''}`;
  }
  return words || `${what} ended with ${result.signal ?? `exit code ${result.code}`}`;
}
