import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import type { JupyterState, JupyterStatus } from '@jupyterlab-gpu-workspace/api';
import { findProgram } from './program';
import { busy, StartupError, stopping, stoppedForIdle, WorkspaceError } from '../errors';
import type { WorkspaceConfig } from '../config/schema';
import { Logger } from '../log';
import { descendantsOf, isAlive, signal } from './processes';
import { Containment, treeContainment } from './containment';
import { launchCommand, RunAs, SETPRIV, userEnvironment } from './launch';
import { requestOverSocket } from './unixHttp';

export type { JupyterState };

/** What the GPU mode decides about Jupyter's next start. */
export interface LaunchOverlay {
  env: Record<string, string>;
  /** Whether Jupyter gets the GPU device group (with a notebook user and gpu.device_group set). */
  gpuDevices: boolean;
}

export interface SupervisorOptions {
  /** Program and leading arguments, e.g. ['/venv/bin/jupyter', 'lab']. */
  command: string[];
  extraArgs: string[];
  home: string;
  socketPath: string;
  cookieSecretFile: string;
  /**
   * Where Jupyter reads its token at start (JUPYTER_TOKEN_FILE): in a folder
   * the notebook user cannot write, removed once Jupyter runs. The token is
   * new at each start and is Jupyter's alone: the front door never accepts it.
   */
  tokenFile: string;
  baseUrl: string;
  /** Whether JupyterLab's delete moves files to a Trash (home.trash) rather than deleting them. */
  deleteToTrash: boolean;
  /** Environment for Jupyter (and so for every kernel and terminal). */
  env: NodeJS.ProcessEnv;
  /** The notebook user Jupyter runs as; null: the sidecar's own user. */
  runAs: RunAs | null;
  startTimeoutMs: number;
  stopTimeoutMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  log: Logger;
  /** What the workspace is beyond Jupyter's tree (jupyter/containment.ts); default: the tree alone. */
  containment?: Containment;
}

/** The supervisor's timings as the operator config states them (in seconds). */
export type SupervisorTimings = Pick<SupervisorOptions, 'startTimeoutMs' | 'stopTimeoutMs' | 'backoffInitialMs' | 'backoffMaxMs'>;

export function supervisorTimings(config: WorkspaceConfig): SupervisorTimings {
  const j = config.jupyter;
  return {
    startTimeoutMs: j.start_timeout_seconds * 1000,
    stopTimeoutMs: j.stop_timeout_seconds * 1000,
    backoffInitialMs: j.restart_backoff_initial_seconds * 1000,
    backoffMaxMs: j.restart_backoff_max_seconds * 1000
  };
}

/** A Jupyter server running for this long is healthy again: the crash back-off starts over. */
const STABLE_AFTER_MS = 60_000;
const STDERR_TAIL_LINES = 30;
/** How long what is left of the workspace after Jupyter's own stop gets between SIGTERM and SIGKILL. */
const SWEEP_GRACE_MS = 2000;

const delay = (ms: number): Promise<void> => new Promise(r => setTimeout(r, ms));

/**
 * Starts, stops and restarts the Jupyter server on its private Unix socket,
 * and brings it back with back-off when it dies on its own. One operation at
 * a time: a second restart while one is running is refused (409).
 */
export class JupyterSupervisor extends EventEmitter {
  private child: ChildProcess | null = null;
  private _state: JupyterState = 'stopped';
  private startedAt: Date | null = null;
  private restarts = 0;
  private crashes = 0;
  private generation = 0;
  private lastExit: string | null = null;
  private lastError: string | null = null;
  private backoffMs: number;
  private crashTimer: NodeJS.Timeout | null = null;
  private stderrTail: string[] = [];
  private busy: Promise<void> | null = null;
  private shuttingDown = false;
  /** Stopped on purpose (inactivity) until resume(): no crash restart, no restart, nothing waits for it. */
  private parked = false;
  /** Stopped inside whileStopped(): the work runs, then Jupyter starts again. */
  private heldDown = false;
  /** What the GPU mode lays over the launch at the next start: variables, and the device group. */
  private overlay: LaunchOverlay = { env: {}, gpuDevices: false };
  /** The token the running (or starting) Jupyter accepts: the sidecar's own calls and what it forwards carry it. */
  private token = randomBytes(32).toString('hex');
  private readonly containment: Containment;

  constructor(private readonly options: SupervisorOptions) {
    super();
    this.containment = options.containment ?? treeContainment('no containment was set up');
    // Every request held during a restart waits on 'state' (and stops waiting after): not a leak.
    this.setMaxListeners(0);
    this.backoffMs = options.backoffInitialMs;
  }

  get state(): JupyterState {
    return this._state;
  }

  status(): JupyterStatus {
    return {
      state: this._state,
      pid: this._state === 'running' ? (this.child?.pid ?? null) : null,
      started_at: this.startedAt?.toISOString() ?? null,
      generation: this.generation,
      restarts: this.restarts,
      crashes: this.crashes,
      last_exit: this.lastExit,
      last_error: this.lastError
    };
  }

  /** The token Jupyter accepts now; it changes at each start. */
  get jupyterToken(): string {
    return this.token;
  }

  /** True once stop() was called: nothing starts any more. */
  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** True while Jupyter is stopped for inactivity and waits for resume(). */
  get isParked(): boolean {
    return this.parked;
  }

  /** Resolves true once Jupyter is running, false if it is not within `timeoutMs`. */
  whenRunning(timeoutMs: number): Promise<boolean> {
    if (this._state === 'running') {
      return Promise.resolve(true);
    }
    if (timeoutMs <= 0 || this.shuttingDown || this.parked) {
      return Promise.resolve(false);
    }
    return new Promise(resolve => {
      const onState = (state: JupyterState): void => {
        if (state === 'running') {
          finish(true);
        }
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      const finish = (ok: boolean): void => {
        clearTimeout(timer);
        this.off('state', onState);
        resolve(ok);
      };
      this.on('state', onState);
    });
  }

  /** Sets what Jupyter's next start gets from the GPU mode; a restart makes every kernel and terminal see it. */
  setLaunchOverlay(overlay: LaunchOverlay): void {
    this.overlay = { env: { ...overlay.env }, gpuDevices: overlay.gpuDevices };
  }

  /** Whether `pid` is one of the workspace's processes (Jupyter's, or one that left its tree but not the workspace). */
  inWorkspace(pid: number): boolean {
    return this.containment.contains(pid, this.child?.pid ?? null);
  }

  /** True while a start, stop or restart is running. */
  get isBusy(): boolean {
    return this.busy !== null;
  }

  /** First start. Throws StartupError with what to do when Jupyter cannot start. */
  start(): Promise<void> {
    return this.exclusive(() => this.spawnAndWait());
  }

  /**
   * Starts a restart and returns at once; throws (busy, stopping) when one
   * cannot start now. How it ended is in status(): `last_error`, `generation`.
   */
  requestRestart(reason: string): void {
    if (this.shuttingDown) {
      throw stopping();
    }
    if (this.parked) {
      throw stoppedForIdle();
    }
    if (this.busy) {
      throw busy('The Jupyter server is already starting, stopping or restarting. Try again in a moment.');
    }
    this.restart(reason).catch(err => this.options.log.warn('restart failed', { reason, error: (err as Error).message }));
  }

  /** Why a restart or a stop for work cannot begin now, or null when it can. */
  private refusal(): WorkspaceError | null {
    if (this.shuttingDown) {
      return stopping();
    }
    if (this.parked) {
      return stoppedForIdle();
    }
    if (this.busy) {
      return busy('The Jupyter server is already starting, stopping or restarting. Try again in a moment.');
    }
    return null;
  }

  /**
   * Stops Jupyter and restarts it; refuses (synchronously, as a rejected
   * promise) while another start/stop/restart runs or the sidecar is stopping.
   */
  restart(reason: string): Promise<void> {
    const refused = this.refusal();
    if (refused) {
      return Promise.reject(refused);
    }
    // A restart asked for while a crash restart is pending replaces it: never two servers on one socket.
    this.cancelCrashRestart();
    return this.exclusive(async () => {
      this.options.log.info('restarting Jupyter', { reason });
      this.setState('restarting');
      await this.stopChild();
      this.restarts += 1;
      try {
        await this.spawnAndWait('restarting');
      } catch (err) {
        // The caller hears why; meanwhile the server comes back with back-off, as after a crash.
        this.setState('crashed');
        this.scheduleCrashRestart();
        throw err;
      }
    });
  }

  /**
   * Graceful stop of Jupyter, its kernels and terminals; nothing is left
   * running. A start or restart under way is cut short, not waited out: once
   * `shuttingDown` is set it spawns nothing new, and the server it may already
   * have spawned is stopped here.
   */
  async stop(): Promise<void> {
    this.shuttingDown = true;
    this.cancelCrashRestart();
    await this.stopChild();
    while (this.busy) {
      await this.busy.catch(() => undefined);
      await this.stopChild();
    }
    this.setState('stopped');
  }

  /**
   * Stops Jupyter, its kernels and terminals for inactivity, and keeps it
   * stopped: unlike a crash nothing brings it back, and unlike stop() it can
   * be started again with resume(). Waits out a start or restart under way.
   */
  park(reason: string): Promise<void> {
    if (this.shuttingDown) {
      return Promise.reject(stopping());
    }
    this.parked = true;
    this.cancelCrashRestart();
    return this.exclusive(async () => {
      this.cancelCrashRestart();
      this.options.log.info('stopping Jupyter until it is started again', { reason });
      await this.stopChild();
      this.setState('stopped');
    });
  }

  /**
   * Stops Jupyter (kernels and terminals die with it), runs `work` while
   * nothing of the notebook user's runs, then starts Jupyter again whatever
   * `work` did, so the user is never locked out. Refuses at once (as a
   * rejected promise) like restart(). Rejects with `work`'s error if it threw,
   * else with the start's error if Jupyter did not come back (it then comes
   * back with back-off, as after a crash); else resolves with `work`'s value.
   */
  whileStopped<T>(reason: string, work: () => Promise<T>): Promise<T> {
    const refused = this.refusal();
    if (refused) {
      return Promise.reject(refused);
    }
    this.cancelCrashRestart();
    let outcome: { ok: true; value: T } | { ok: false; error: unknown } | null = null;
    const run = this.exclusive(async () => {
      this.options.log.info('stopping Jupyter', { reason });
      this.setState('restarting');
      await this.stopChild();
      this.heldDown = true;
      try {
        outcome = { ok: true, value: await work() };
      } catch (error) {
        outcome = { ok: false, error };
      } finally {
        this.heldDown = false;
      }
      this.restarts += 1;
      try {
        await this.spawnAndWait('restarting');
      } catch (err) {
        this.setState('crashed');
        this.scheduleCrashRestart();
        if (outcome.ok) {
          throw err;
        }
      }
    });
    return run.then(() => {
      const done = outcome as { ok: true; value: T } | { ok: false; error: unknown };
      if (!done.ok) {
        throw done.error;
      }
      return done.value;
    });
  }

  /** True while Jupyter is stopped inside whileStopped(): nobody can ask it anything, yet it comes back by itself. */
  get isHeldDown(): boolean {
    return this.heldDown;
  }

  /** Starts Jupyter again after park(). Throws StartupError when it cannot start (it stays parked then). */
  resume(): Promise<void> {
    if (this.shuttingDown) {
      return Promise.reject(stopping());
    }
    return this.exclusive(async () => {
      if (!this.parked) {
        return;
      }
      this.parked = false;
      try {
        await this.spawnAndWait();
      } catch (err) {
        if (!this.shuttingDown) {
          this.parked = true;
          this.setState('stopped');
        }
        throw err;
      }
    });
  }

  private cancelCrashRestart(): void {
    if (this.crashTimer) {
      clearTimeout(this.crashTimer);
      this.crashTimer = null;
    }
  }

  private async exclusive(work: () => Promise<void>): Promise<void> {
    while (this.busy) {
      await this.busy.catch(() => undefined);
    }
    const run = work();
    this.busy = run;
    try {
      await run;
    } finally {
      this.busy = null;
    }
  }

  private setState(state: JupyterState): void {
    if (state !== this._state) {
      this._state = state;
      this.emit('state', state);
    }
  }

  private args(): string[] {
    const o = this.options;
    const args = [
      ...o.command.slice(1),
      '--no-browser',
      `--sock=${o.socketPath}`,
      '--sock-mode=0600',
      `--ServerApp.root_dir=${o.home}`,
      `--ServerApp.base_url=${o.baseUrl}`,
      `--ServerApp.cookie_secret_file=${o.cookieSecretFile}`,
      // Jupyter is reachable only through the sidecar, which keeps the browser's Host header.
      '--ServerApp.allow_remote_access=True',
      '--ServerApp.trust_xheaders=True',
      // jupyter_server's default moves deleted files to a Trash that, inside the capped home, only takes
      // space, and without a notebook user lands in the sidecar user's own home, where nothing sees it.
      `--FileContentsManager.delete_to_trash=${o.deleteToTrash ? 'True' : 'False'}`
    ];
    if (process.getuid?.() === 0 && !o.runAs) {
      args.push('--allow-root');
    }
    return [...args, ...o.extraArgs];
  }

  private async spawnAndWait(startingState: JupyterState = 'starting'): Promise<void> {
    const o = this.options;
    if (this.shuttingDown) {
      throw stopping();
    }
    this.setState(startingState);
    // Nothing of a previous run (a detached process, or a whole workspace a killed sidecar left) lives on into this one.
    await this.sweepWorkspace();
    if (this.shuttingDown) {
      this.setState('stopped');
      throw stopping();
    }
    fs.rmSync(o.socketPath, { force: true });
    this.stderrTail = [];
    const [program] = o.command;
    // setpriv --pdeathsig: if the sidecar itself is killed (even with SIGKILL), the
    // kernel sends Jupyter SIGTERM, so no server is left behind without its front door.
    const usePdeathsig = fs.existsSync(SETPRIV);
    // Started inside the workspace's cgroup, where there is one: every kernel and terminal is born there.
    const { file, argv } = this.containment.launch(launchCommand(program, this.args(), o.runAs, this.overlay.gpuDevices, usePdeathsig));
    // Through setpriv (or the cgroup's shell) a missing program is exit 127, not spawn's ENOENT: check it here.
    if (file !== program && findProgram(program, o.env.PATH, o.home) === null) {
      this.child = null;
      this.setState('stopped');
      throw new StartupError(this.explainFailure('error:ENOENT', program));
    }
    const identity = o.runAs ? userEnvironment(o.runAs.user, o.home) : {};
    this.token = randomBytes(32).toString('hex');
    this.writeTokenFile();
    const child = spawn(file, argv, {
      cwd: o.home,
      env: { ...o.env, ...identity, ...this.overlay.env, JUPYTER_TOKEN_FILE: o.tokenFile },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true
    });
    this.child = child;
    const spawnError = new Promise<Error>(resolve => child.once('error', resolve));
    const exited = new Promise<string>(resolve =>
      child.once('exit', (code, sig) => resolve(sig ? `killed by ${sig}` : `exited with code ${code}`))
    );
    child.stdout?.on('data', (d: Buffer) => this.capture(d));
    child.stderr?.on('data', (d: Buffer) => this.capture(d));
    child.once('exit', (code, sig) => this.onExit(child, code, sig));

    const deadline = Date.now() + o.startTimeoutMs;
    const ready = this.pollReady(child, deadline);
    const outcome = await Promise.race([
      ready.then(ok => (ok ? 'ready' : 'timeout')),
      spawnError.then(err => `error:${err.message}`),
      exited.then(how => `exit:${how}`)
    ]);
    // Read by now (jupyter_server reads it while it starts): from here the token is in Jupyter's memory only.
    fs.rmSync(o.tokenFile, { force: true });
    if (outcome === 'ready' && !this.shuttingDown) {
      this.startedAt = new Date();
      this.generation += 1;
      this.lastError = null;
      this.setState('running');
      o.log.info('Jupyter is running', { pid: child.pid, socket: o.socketPath });
      return;
    }
    await this.killTree(child);
    await this.sweepWorkspace();
    this.child = null;
    this.setState('stopped');
    if (this.shuttingDown) {
      throw stopping();
    }
    const failure = new StartupError(this.explainFailure(outcome, program));
    this.lastError = failure.message;
    throw failure;
  }

  /**
   * Writes this start's token for Jupyter to read. The folder is the
   * sidecar's (the notebook user can read the file, which is theirs, but can
   * neither replace it nor the folder), and the file is created anew, never
   * opened through a link.
   */
  private writeTokenFile(): void {
    const file = this.options.tokenFile;
    fs.rmSync(file, { force: true });
    const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
    try {
      fs.writeSync(fd, this.token);
      if (this.options.runAs) {
        fs.fchownSync(fd, this.options.runAs.user.uid, this.options.runAs.user.gid);
      }
    } finally {
      fs.closeSync(fd);
    }
  }

  private explainFailure(outcome: string, program: string): string {
    const tail = this.stderrTail.slice(-12).join('\n');
    const output = tail ? `\nIts last output:\n${tail}` : '';
    if (outcome.startsWith('error:') && outcome.includes('ENOENT')) {
      return (
        `Jupyter could not be started: the program "${program}" was not found.\n` +
        'Install JupyterLab (the README\'s set-up command does), or set jupyter.command in the config file.'
      );
    }
    if (outcome.startsWith('error:')) {
      return `Jupyter could not be started: ${outcome.slice(6)}`;
    }
    if (outcome === 'timeout') {
      return `Jupyter did not answer on its socket within ${this.options.startTimeoutMs / 1000} s (jupyter.start_timeout_seconds).${output}`;
    }
    return `Jupyter stopped during start-up (${outcome.slice(5)}).${output}`;
  }

  private capture(data: Buffer): void {
    for (const line of data.toString('utf8').split('\n')) {
      if (!line.trim()) {
        continue;
      }
      this.stderrTail.push(line);
      // Jupyter's own log lines carry the token in URLs; never copy them into our logs verbatim.
      this.options.log.debug('jupyter', { line: line.replace(/token=[^&\s]+/g, 'token=…') });
    }
    if (this.stderrTail.length > STDERR_TAIL_LINES) {
      this.stderrTail.splice(0, this.stderrTail.length - STDERR_TAIL_LINES);
    }
  }

  private async pollReady(child: ChildProcess, deadline: number): Promise<boolean> {
    const path = `${this.options.baseUrl}api`;
    while (Date.now() < deadline && child.exitCode === null && child.signalCode === null && !this.shuttingDown) {
      try {
        const res = await requestOverSocket(this.options.socketPath, { path, timeoutMs: 2000 });
        if (res.status === 200) {
          return true;
        }
      } catch {
        // Not listening yet.
      }
      await delay(100);
    }
    return false;
  }

  private onExit(child: ChildProcess, code: number | null, sig: NodeJS.Signals | null): void {
    if (child !== this.child) {
      return;
    }
    this.lastExit = sig ? `killed by ${sig}` : `exited with code ${code}`;
    this.child = null;
    if (this._state !== 'running') {
      return; // A stop or a failed start handles its own exit.
    }
    this.crashes += 1;
    const ranMs = this.startedAt ? Date.now() - this.startedAt.getTime() : 0;
    if (ranMs > STABLE_AFTER_MS) {
      this.backoffMs = this.options.backoffInitialMs;
    }
    this.options.log.warn('Jupyter died; restarting', { how: this.lastExit, in_ms: this.backoffMs });
    this.setState('crashed');
    // Kernels of the dead server notice their parent is gone (ipykernel's parent poller) and exit.
    this.scheduleCrashRestart();
  }

  private scheduleCrashRestart(): void {
    if (this.shuttingDown || this.parked) {
      return;
    }
    const wait = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.backoffMaxMs);
    this.crashTimer = setTimeout(() => {
      this.crashTimer = null;
      this.exclusive(async () => {
        if (this._state !== 'running' && !this.shuttingDown && !this.parked) {
          await this.spawnAndWait();
        }
      })
        .then(() => (this.restarts += 1))
        .catch(err => {
          if (this.shuttingDown) {
            return;
          }
          this.options.log.error('Jupyter restart after crash failed', { error: (err as Error).message });
          this.setState('crashed');
          this.scheduleCrashRestart();
        });
    }, wait);
  }

  /**
   * Ends Jupyter gracefully (kernels and terminals with it), then whatever is
   * left of the workspace: processes that detached from Jupyter's tree.
   */
  private async stopChild(): Promise<void> {
    await this.stopJupyter();
    await this.sweepWorkspace();
  }

  /** SIGTERM, a short grace, SIGKILL for every process of the workspace still there; logs what it ended. */
  private async sweepWorkspace(): Promise<void> {
    const { found, left } = await this.containment.sweep(SWEEP_GRACE_MS);
    if (found.length) {
      this.options.log.info('ended workspace processes that outlived Jupyter', { strategy: this.containment.strategy, pids: found });
    }
    if (left.length) {
      this.options.log.warn('workspace processes would not die', { strategy: this.containment.strategy, pids: left });
    }
  }

  private async stopJupyter(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this.child = null;
      return;
    }
    this.setState(this._state === 'restarting' ? 'restarting' : 'stopping');
    const o = this.options;
    const exited = new Promise<void>(resolve => child.once('exit', () => resolve()));
    const tree = descendantsOf(child.pid as number);
    // SIGTERM is Jupyter's own graceful stop (kernels and terminals are shut down, their atexit
    // handlers run) and needs no credentials: behind JupyterHub, jupyterhub-singleuser refuses
    // our token on POST /api/shutdown, which would cost the whole stop timeout on every restart.
    signal(child.pid as number, 'SIGTERM');
    const graceful = await Promise.race([exited.then(() => true), delay(o.stopTimeoutMs).then(() => false)]);
    if (!graceful) {
      o.log.warn('Jupyter did not stop in time; killing it', { pid: child.pid });
    }
    await this.killTree(child, tree);
    this.child = null;
  }

  /** Ends the process group and every remembered descendant (kernels live in sessions of their own). */
  private async killTree(child: ChildProcess, known: number[] = []): Promise<void> {
    const pid = child.pid;
    if (pid === undefined) {
      return;
    }
    const tree = Array.from(new Set([...known, ...descendantsOf(pid)]));
    const alive = (): number[] => [pid, ...tree].filter(isAlive);
    if (alive().length === 0) {
      return;
    }
    signal(-pid, 'SIGTERM');
    tree.forEach(p => signal(p, 'SIGTERM'));
    for (let i = 0; i < 30 && alive().length; i++) {
      await delay(100);
    }
    for (const p of alive()) {
      signal(p, 'SIGKILL');
    }
    signal(-pid, 'SIGKILL');
  }
}
