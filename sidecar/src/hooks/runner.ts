import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import * as pty from 'node-pty';
import type { HookEvent, HookFailure, HookRunResponse, HookRunSummary } from '@jupyterlab-gpu-workspace/api';
import { Logger } from '../log';
import { launchCommand, RunAs, SETPRIV, userEnvironment } from '../jupyter/launch';
import { findProgram } from '../jupyter/program';
import { HookResult, HookRunner, HookSpec } from './port';
import { OutputLog } from './outputLog';

export interface HookRunnerOptions {
  /** The notebook user hooks run as; null: the sidecar's own user (no isolation). */
  runAs: RunAs | null;
  home: string;
  /** The workspace's environment (Jupyter's, without the sidecar's secrets). Read at each run: it changes with the GPU mode. */
  env: () => NodeJS.ProcessEnv;
  /** Folders put first on PATH, so `jupyter nbconvert` means the workspace's own Jupyter. */
  pathPrepend?: string[];
  log: Logger;
  /** How much output each run keeps (its last part), in characters. */
  maxOutputChars?: number;
  /** How many finished runs stay readable in the log panel. */
  keepRuns?: number;
  /** Between SIGTERM at the time limit and SIGKILL. */
  killGraceMs?: number;
}


interface Run {
  summary: HookRunSummary;
  output: OutputLog;
  child: pty.IPty | null;
}

/** How much of a failed run's log an error body carries (the panel shows all of it). */
const FAILURE_TAIL_CHARS = 4_000;

const haveSetpriv = fs.existsSync(SETPRIV);

/** The error body's `hook` field for a run that failed. */
export function failureOf(result: HookResult): HookFailure {
  return { run: result.run, output_tail: result.output.slice(-FAILURE_TAIL_CHARS) };
}

/** "exited with code 2", "killed at its 30 s time limit": for messages. */
export function describeEnd(run: HookRunSummary): string {
  if (run.state === 'timed-out') {
    return `was stopped at its time limit of ${run.timeout_seconds} s`;
  }
  if (run.signal) {
    return `was ended by ${run.signal}`;
  }
  return `exited with code ${run.exit_code ?? '?'}`;
}

/**
 * Operator commands under a pseudo-terminal (node-pty), so tools that colour
 * their output and flush per line behave as in a terminal. Each runs as the
 * notebook user (setpriv, the same identity and umask as Jupyter; never
 * root's groups), in its own session, with a time limit: SIGTERM to the
 * whole process group, then SIGKILL. Output is kept per run (its last part)
 * and pushed live as it comes (`hook` events).
 */
export class PtyHookRunner extends EventEmitter implements HookRunner {
  private readonly runs = new Map<string, Run>();

  constructor(private readonly options: HookRunnerOptions) {
    super();
  }

  run(spec: HookSpec): Promise<HookResult> {
    if (!Array.isArray(spec.command) || spec.command.length === 0 || spec.command.some(a => typeof a !== 'string')) {
      throw new TypeError('A hook command is a non-empty list of strings.');
    }
    const timeoutSeconds = Math.round(spec.timeoutMs / 100) / 10;
    const summary: HookRunSummary = {
      id: randomBytes(6).toString('hex'),
      title: spec.title,
      command: [...spec.command],
      state: 'running',
      exit_code: null,
      signal: null,
      started_at: new Date().toISOString(),
      ended_at: null,
      timeout_seconds: timeoutSeconds
    };
    const run: Run = { summary, output: new OutputLog(this.options.maxOutputChars ?? 1_000_000), child: null };
    this.remember(run);
    this.options.log.info('hook started', { id: summary.id, title: spec.title, command: spec.command });
    this.emit('hook', { run: { ...summary }, chunk: '', offset: 0 } satisfies HookEvent);

    return new Promise<HookResult>(resolve => {
      let timedOut = false;
      let limit: NodeJS.Timeout | null = null;
      let killTimer: NodeJS.Timeout | null = null;
      const finish = (exitCode: number | null, signal: string | null): void => {
        if (limit) {
          clearTimeout(limit);
        }
        if (killTimer) {
          clearTimeout(killTimer);
        }
        run.child = null;
        summary.exit_code = exitCode;
        summary.signal = signal;
        summary.ended_at = new Date().toISOString();
        summary.state = timedOut ? 'timed-out' : exitCode === 0 && !signal ? 'succeeded' : 'failed';
        this.options.log[summary.state === 'succeeded' ? 'info' : 'warn']('hook ended', {
          id: summary.id,
          title: spec.title,
          state: summary.state,
          exit_code: exitCode,
          signal
        });
        this.emit('hook', { run: { ...summary }, chunk: '', offset: run.output.end } satisfies HookEvent);
        resolve({ run: { ...summary }, ok: summary.state === 'succeeded', output: run.output.text() });
      };
      const write = (chunk: string): void => {
        if (!chunk) {
          return;
        }
        const offset = run.output.end;
        run.output.append(chunk);
        this.emit('hook', { run: { ...summary }, chunk, offset } satisfies HookEvent);
      };

      let child: pty.IPty;
      try {
        child = this.spawn(spec, summary.id);
      } catch (err) {
        // A program that does not exist, a folder that is gone: the run fails with the reason in its log.
        write(`${(err as Error).message}\r\n`);
        finish(127, null);
        return;
      }
      run.child = child;
      const endMarker = new EndMarker(summary.id);
      child.onData(data => {
        const { text, found } = endMarker.scan(data);
        write(text);
        if (found) {
          // Everything the hook wrote has been read: let the wrapper exit with the hook's status.
          child.write('\r');
        }
      });
      child.onExit(({ exitCode, signal }) => {
        // Killed before the marker (the time limit): what was held back is output after all.
        write(endMarker.rest());
        finish(signal ? null : exitCode, signal ? signalName(signal) : null);
      });
      limit = setTimeout(() => {
        timedOut = true;
        write(`\r\n[the hook ran past its time limit of ${timeoutSeconds} s and was stopped]\r\n`);
        this.signalGroup(child.pid, 'SIGTERM');
        killTimer = setTimeout(() => this.signalGroup(child.pid, 'SIGKILL'), this.options.killGraceMs ?? 3_000);
      }, spec.timeoutMs);
    });
  }

  /** Runs newest first. */
  list(): HookRunSummary[] {
    return [...this.runs.values()].reverse().map(r => ({ ...r.summary }));
  }

  /** A run and its output from character `since` on; null when no such run is kept. */
  read(id: string, since = 0): HookRunResponse | null {
    const run = this.runs.get(id);
    if (!run) {
      return null;
    }
    const { text, start } = run.output.since(since);
    return { ...run.summary, output: text, output_start: start, output_end: run.output.end };
  }

  /** The sidecar is stopping: running hooks end with it. */
  close(): void {
    for (const run of this.runs.values()) {
      if (run.child) {
        this.signalGroup(run.child.pid, 'SIGKILL');
      }
    }
  }

  private spawn(spec: HookSpec, runId: string): pty.IPty {
    if (!fs.statSync(spec.cwd, { throwIfNoEntry: false })?.isDirectory()) {
      throw new Error(`The hook's working folder ${spec.cwd} does not exist.`);
    }
    const { runAs, home } = this.options;
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.options.env())) {
      if (v !== undefined) {
        env[k] = v;
      }
    }
    Object.assign(env, runAs ? userEnvironment(runAs.user, home) : { HOME: home });
    const prepend = (this.options.pathPrepend ?? []).filter(p => p);
    env.PATH = [...prepend, env.PATH ?? '/usr/local/bin:/usr/bin:/bin'].join(path.delimiter);
    env.TERM = 'xterm-256color';
    Object.assign(env, spec.env ?? {});
    // setpriv and sh would look the program up on their own PATH: the hook's PATH decides, so resolve it here.
    const program = findProgram(spec.command[0], env.PATH, spec.cwd);
    if (program === null) {
      throw new Error(`The hook's program "${spec.command[0]}" was not found on PATH (${env.PATH}).`);
    }
    // node-pty stops reading 200 ms after the process exits, and on a busy machine the last lines
    // (a failing hook's error) were lost. The wrapper prints an end marker once the hook has exited and
    // waits for Enter, which is sent only when the marker has been read: all output comes first.
    const wrapped = ['/bin/sh', '-c', `"$@"; status=$?; printf '%s' '${endMarkerOf(runId)}'; read -r _; exit $status`, 'hook', program, ...spec.command.slice(1)];
    const launch = launchCommand(wrapped[0], wrapped.slice(1), runAs, false, haveSetpriv);
    return pty.spawn(launch.file, launch.argv, { name: 'xterm-256color', cols: 120, rows: 40, cwd: spec.cwd, env });
  }

  /** The pty's child leads its own session and process group: the signal reaches whatever the hook started. */
  private signalGroup(pid: number, signal: NodeJS.Signals): void {
    try {
      process.kill(-pid, signal);
    } catch {
      try {
        process.kill(pid, signal);
      } catch {
        // Already gone.
      }
    }
  }

  private remember(run: Run): void {
    this.runs.set(run.summary.id, run);
    const keep = this.options.keepRuns ?? 50;
    for (const [id, old] of this.runs) {
      if (this.runs.size <= keep) {
        break;
      }
      if (!old.child) {
        this.runs.delete(id);
      }
    }
  }
}

/** An OSC sequence (terminals ignore it) that no hook prints by chance: its run's id is in it. */
function endMarkerOf(runId: string): string {
  return `\x1b]9999;gpu-workspace-hook-end;${runId}\x07`;
}

/**
 * Finds the wrapper's end marker in the output stream, which may split it
 * across reads: text that could be the marker's start is held back until the
 * next read says. Nothing after the marker is output (the Enter's echo).
 */
class EndMarker {
  private readonly marker: string;
  private held = '';
  private found = false;

  constructor(runId: string) {
    this.marker = endMarkerOf(runId);
  }

  /** What is held back, once no more output can come. */
  rest(): string {
    const held = this.held;
    this.held = '';
    return held;
  }

  scan(data: string): { text: string; found: boolean } {
    if (this.found) {
      return { text: '', found: false };
    }
    const pending = this.held + data;
    const at = pending.indexOf(this.marker);
    if (at >= 0) {
      this.found = true;
      this.held = '';
      return { text: pending.slice(0, at), found: true };
    }
    let keep = Math.min(this.marker.length - 1, pending.length);
    while (keep > 0 && !this.marker.startsWith(pending.slice(pending.length - keep))) {
      keep--;
    }
    this.held = pending.slice(pending.length - keep);
    return { text: pending.slice(0, pending.length - keep), found: false };
  }
}

function signalName(signal: number): string {
  const found = Object.entries(os.constants.signals).find(([, n]) => n === signal);
  return found ? found[0] : `signal ${signal}`;
}
