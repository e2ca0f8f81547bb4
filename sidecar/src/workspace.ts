import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { API_PATH } from '@jupyterlab-gpu-workspace/api';
import { createApi } from './http/api';
import { FrontDoorAuth, sameSecret } from './http/auth';
import { createLogin } from './http/login';
import { SessionKeys } from './http/session';
import { WorkspaceConfig } from './config/schema';
import { StartupError } from './errors';
import { ledgerPath, openDatabase } from './quota/db';
import { GpuService } from './gpu/service';
import { Ledger } from './quota/ledger';
import { createLogger, Logger } from './log';
import { createFrontDoor, listen } from './http/frontDoor';
import { createGuard } from './http/guard';
import { JupyterProxy } from './http/proxy';
import { ensureSecret, prepareStateDir, StateLayout } from './state/dir';
import { lockStateDir } from './state/lock';
import { makePrivateDir } from './state/privateDir';
import { setUpIsolation } from './jupyter/isolation';
import { setUpContainment } from './jupyter/containment';
import { RunAs } from './jupyter/launch';
import { cpuModeEnforcement, findDeviceNodes } from './gpu/deviceNodes';
import { JupyterSupervisor } from './jupyter/supervisor';
import { IdleController } from './idle/controller';
import { watchKernelActivity } from './idle/kernelActivity';
import { LeaseTable } from './idle/leases';
import { processUid } from './idle/processOwner';
import { createStoppedGate } from './http/stoppedGate';
import { LiveEvents } from './http/liveEvents';
import { HomeSnapshotter } from './snapshots/port';
import { createUploadGuard } from './http/uploadGuard';
import { SnapshotService, snapshotPolicy } from './snapshots/service';
import { nbconvertCommand, submitHomeProblems } from './submit/manifest';
import { SubmitService } from './submit/service';
import { ResetService, resetPolicy } from './reset/service';
import { PtyHookRunner } from './hooks/runner';
import type { HookEvent } from '@jupyterlab-gpu-workspace/api';

export interface ServeOptions {
  port: number;
  home: string;
  stateDir: string;
  config: WorkspaceConfig;
  token?: string;
  logger?: Logger;
  /** Home snapshots, where they exist: the idle stop and the end of keep-awake ask for one. */
  snapshotter?: HomeSnapshotter | null;
}

export interface RunningWorkspace {
  url: string;
  token: string;
  port: number;
  state: StateLayout;
  supervisor: JupyterSupervisor;
  gpu: GpuService;
  idle: IdleController;
  snapshots: SnapshotService;
  reset: ResetService;
  hooks: PtyHookRunner;
  close(): Promise<void>;
}

/** The front door as seen from this machine (kernels reach the sidecar API through it). */
export function loopbackUrl(listenHost: string, port: number, base: string): string {
  const host = listenHost === '0.0.0.0' || listenHost === '' ? '127.0.0.1' : listenHost === '::' ? '[::1]' : urlHost(listenHost);
  return `http://${host}:${port}${base}`;
}

/** The host to print in the URL: the address listened on, or this machine's name for a wildcard address. */
export function urlHost(listenHost: string): string {
  if (listenHost === '0.0.0.0' || listenHost === '::' || listenHost === '') {
    return os.hostname();
  }
  return listenHost.includes(':') ? `[${listenHost}]` : listenHost;
}

/** How old the home's measurement may be when an upload is checked against the cap. */
const UPLOAD_SCAN_MAX_AGE_MS = 5_000;

/** When run from the repository, use the project's own virtual environment's JupyterLab. */
export function defaultJupyterCommand(): string[] {
  const repoVenv = path.resolve(__dirname, '..', '..', '.venv', 'bin', 'jupyter');
  return fs.existsSync(repoVenv) ? [repoVenv, 'lab'] : ['jupyter', 'lab'];
}

/** Variables of the sidecar's own session that would point a notebook user at root's folders. */
const SESSION_VARIABLES = ['XDG_RUNTIME_DIR', 'MAIL', 'SUDO_USER', 'SUDO_UID', 'SUDO_GID', 'SUDO_COMMAND'];

/** Jupyter, kernels and terminals must not see the sidecar's own secrets (nor, as another user, its session). */
function jupyterEnv(asOtherUser: boolean): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('GPU_WORKSPACE_') && k !== 'JUPYTER_TOKEN' && !(asOtherUser && SESSION_VARIABLES.includes(k))) {
      env[k] = v;
    }
  }
  return env;
}

/**
 * Starts the workspace: the front-door HTTP server first (so a taken port
 * fails fast), then Jupyter on its private socket. Resolves once both run.
 */
export async function serve(options: ServeOptions): Promise<RunningWorkspace> {
  const { config } = options;
  const log = options.logger ?? createLogger(config.log_level);
  const home = path.resolve(options.home);
  const state = prepareStateDir(options.stateDir);
  // Before anything touches the socket or the ledger: a second sidecar must not take over the first's.
  const lock = lockStateDir(state.root);
  const cleanups: Array<() => void> = [() => lock.release()];
  const cleanUp = (): void => {
    for (const step of cleanups.reverse()) {
      try {
        step();
      } catch {
        // Best effort: the others must still run.
      }
    }
  };
  try {
    return await startLocked(options, log, home, state, cleanUp, step => cleanups.push(step));
  } catch (err) {
    cleanUp();
    throw err;
  }
}

/** Where Jupyter's socket, cookie secret and start-up token live. */
interface JupyterRunFiles {
  socketPath: string;
  cookieSecretFile: string;
  tokenFile: string;
}

/**
 * Jupyter's files: in the state directory when it runs as the sidecar's own
 * user; with a notebook user, the socket in a private folder that user owns
 * (Jupyter creates it there), and the files it only reads in a folder of the
 * sidecar's (0711: the user can open the files, which are theirs, but can
 * neither list, replace nor redirect them, so root's writes there never
 * follow a link of theirs). The cookie secret only signs Jupyter's own
 * identity cookie: the front door never accepts that as a login.
 */
function jupyterRunFiles(state: StateLayout, runAs: RunAs | null, onClose: (step: () => void) => void): JupyterRunFiles {
  if (!runAs) {
    return { socketPath: state.socketPath, cookieSecretFile: state.cookieSecretFile, tokenFile: path.join(path.dirname(state.socketPath), 'jupyter_token') };
  }
  const socketDir = makePrivateDir('gpu-workspace-jupyter-', runAs.user);
  const readDir = makePrivateDir('gpu-workspace-jupyter-files-');
  fs.chmodSync(readDir, 0o711);
  onClose(() => {
    fs.rmSync(socketDir, { recursive: true, force: true });
    fs.rmSync(readDir, { recursive: true, force: true });
  });
  ensureSecret(state.cookieSecretFile);
  const cookieSecretFile = path.join(readDir, 'cookie_secret');
  fs.copyFileSync(state.cookieSecretFile, cookieSecretFile, fs.constants.COPYFILE_EXCL);
  fs.chmodSync(cookieSecretFile, 0o600);
  fs.chownSync(cookieSecretFile, runAs.user.uid, runAs.user.gid);
  return { socketPath: path.join(socketDir, 'jupyter.sock'), cookieSecretFile, tokenFile: path.join(readDir, 'token') };
}

async function startLocked(
  options: ServeOptions,
  log: Logger,
  home: string,
  state: StateLayout,
  cleanUp: () => void,
  onClose: (step: () => void) => void
): Promise<RunningWorkspace> {
  const { config } = options;
  const isolation = setUpIsolation({ user: config.jupyter.user, deviceGroup: config.gpu.device_group, home });
  try {
    if (!fs.statSync(home).isDirectory()) {
      throw new Error('not a directory');
    }
  } catch (err) {
    throw new StartupError(`Cannot use home folder ${home}: ${(err as Error).message}`);
  }
  const submitProblems = submitHomeProblems(config.submit, home);
  if (submitProblems.length) {
    throw new StartupError(`Invalid configuration:\n${submitProblems.map(p => `  - ${p}`).join('\n')}`);
  }
  if (!isolation.status.enforced) {
    log.warn('notebook code is not isolated from the sidecar', { reason: isolation.status.reason });
  }
  const enforcement = cpuModeEnforcement({
    isolated: isolation.status.enforced,
    deviceGroup: config.gpu.device_group,
    deviceGid: isolation.runAs?.deviceGid ?? null,
    nodes: findDeviceNodes(config.gpu.device_paths)
  });
  if (!enforcement.enforced) {
    log.warn('CPU mode is not enforced by the operating system', { reason: enforcement.reason });
  }
  // Before Jupyter's first start, which begins by ending whatever a killed sidecar left in the workspace.
  const containment = setUpContainment({ setting: config.jupyter.containment, stateDir: state.root, runAs: isolation.runAs });
  onClose(() => containment.closeSync());
  if (containment.status.escapes) {
    log.warn('processes that detach from Jupyter outlive stops and GPU switches', { reason: containment.status.reason });
  }
  const isolationStatus = { ...isolation.status, containment: containment.status };
  const { socketPath, cookieSecretFile, tokenFile } = jupyterRunFiles(state, isolation.runAs, onClose);
  const token = options.token ?? ensureSecret(state.tokenFile);
  const base = config.base_url;
  // Kernels hold keep-awake leases with this token: it may do that and read the status, nothing else.
  // It lives as long as this sidecar (kernels do not outlive it).
  const kernelToken = randomBytes(24).toString('hex');
  // GPU_WORKSPACE_URL and GPU_WORKSPACE_TOKEN are added to it once the port is known (before Jupyter starts).
  const env = jupyterEnv(isolation.runAs !== null);

  const jupyterCommand = config.jupyter.command.length ? config.jupyter.command : defaultJupyterCommand();
  const supervisor = new JupyterSupervisor({
    command: jupyterCommand,
    extraArgs: config.jupyter.extra_args,
    home,
    socketPath,
    cookieSecretFile,
    tokenFile,
    deleteToTrash: config.home.trash,
    baseUrl: base,
    env,
    runAs: isolation.runAs,
    containment,
    startTimeoutMs: config.jupyter.start_timeout_seconds * 1000,
    stopTimeoutMs: config.jupyter.stop_timeout_seconds * 1000,
    backoffInitialMs: config.jupyter.restart_backoff_initial_seconds * 1000,
    backoffMaxMs: config.jupyter.restart_backoff_max_seconds * 1000,
    log: log.child('supervisor')
  });
  // The ledger is made at the first start: before it exists, the home is as the operator provided it.
  const firstStart = !fs.existsSync(ledgerPath(state.root));
  const db = openDatabase(ledgerPath(state.root));
  const ledger = new Ledger(db);
  const snapshots = new SnapshotService({ home, stateDir: state.root, policy: snapshotPolicy(config), runAs: isolation.runAs, log: log.child('snapshots') });
  const gpu = new GpuService(config.gpu, ledger, supervisor, log.child('gpu'), {
    cpuModeEnforcement: enforcement,
    snapshotter: config.snapshots.before_gpu_switch ? snapshots : undefined
  });
  const holdMs = config.jupyter.request_hold_seconds * 1000;
  const waitForJupyter = (): Promise<boolean> => supervisor.whenRunning(holdMs);
  const userName = isolation.status.user;
  const sessions = new SessionKeys(Buffer.from(ensureSecret(state.sessionKeyFile), 'hex'));
  const auth = new FrontDoorAuth({
    token,
    kernelToken,
    operatorToken: config.operator.token,
    jupyterToken: () => supervisor.jupyterToken,
    sessions,
    identity: { username: userName, name: userName, display_name: userName }
  });
  const apiPrefix = `${base}${API_PATH}`;
  const leases = new LeaseTable({
    policy: {
      maxHours: config.keep_awake.max_hours,
      heartbeatSeconds: config.keep_awake.heartbeat_seconds,
      maxLeases: config.keep_awake.max_leases,
      maxAcquiresPerMinute: config.keep_awake.max_acquires_per_minute
    },
    ownerUid: isolation.runAs?.user.uid ?? (process.getuid?.() ?? 0),
    processUid
  });
  const idle = new IdleController({
    policy: {
      timeoutMinutes: config.idle.timeout_minutes,
      warningMinutes: config.idle.warning_minutes,
      signals: config.idle.signals,
      maxHours: config.keep_awake.max_hours,
      heartbeatSeconds: config.keep_awake.heartbeat_seconds
    },
    leases,
    supervisor,
    snapshotter: options.snapshotter === undefined ? snapshots : options.snapshotter,
    log: log.child('idle')
  });
  const hooks = new PtyHookRunner({
    runAs: isolation.runAs,
    home,
    env: () => env,
    // `jupyter nbconvert` in a hook is the workspace's own Jupyter, as in its terminals.
    pathPrepend: path.isAbsolute(jupyterCommand[0]) ? [path.dirname(jupyterCommand[0])] : [],
    log: log.child('hooks')
  });
  const submit = new SubmitService({
    config: config.submit,
    home,
    stateDir: state.root,
    exclude: config.home.exclude,
    runAs: isolation.runAs,
    db,
    ledger,
    snapshotter: options.snapshotter === undefined ? snapshots : options.snapshotter,
    hooks,
    nbconvert: nbconvertCommand(config.submit.nbconvert_command, jupyterCommand),
    log: log.child('submit')
  });
  const reset = new ResetService({
    home,
    stateDir: state.root,
    policy: resetPolicy(config),
    runAs: isolation.runAs,
    firstStart,
    supervisor,
    blockedBy: () => (gpu.status().mode === 'switching' ? 'A GPU switch is under way. Try again once it is over.' : null),
    snapshotter: snapshots,
    restorer: snapshots,
    hooks,
    audit: (actor, action, detail) => ledger.audit(actor, action, detail),
    log: log.child('reset')
  });
  const events = new LiveEvents({
    snapshot: () => ({ jupyter: supervisor.status(), gpu: gpu.status(), quota: gpu.quotaStatus(), idle: idle.status() })
  });
  idle.on('changed', () => events.changed());
  idle.on('notice', notice => events.notice(notice));
  hooks.on('hook', (event: HookEvent) => events.hook(event));
  gpu.on('changed', () => events.changed());
  supervisor.on('state', () => events.changed());
  const stopKernelWatch =
    config.idle.signals === 'user_or_kernels'
      ? watchKernelActivity({
          socketPath,
          baseUrl: base,
          token: () => supervisor.jupyterToken,
          intervalMs: config.idle.kernel_poll_seconds * 1000,
          isRunning: () => supervisor.state === 'running',
          onBusy: () => idle.activity('kernel'),
          log: log.child('idle')
        })
      : () => undefined;
  const api = createApi({
    prefix: apiPrefix,
    supervisor,
    auth,
    gpu,
    ledger,
    isolation: isolationStatus,
    operatorToken: config.operator.token,
    maxBodyBytes: config.api.max_body_bytes,
    log: log.child('api'),
    idle,
    leases,
    events,
    snapshots,
    submit,
    reset,
    hooks
  });
  const guard = createGuard({
    allowedHosts: config.allowed_hosts,
    listenHost: config.listen_host,
    trustedProxies: config.trusted_proxies,
    auth
  });
  const proxy = new JupyterProxy({
    trustsForwardedHeaders: req => guard.trustsForwardedHeaders(req),
    jupyterAuthorization: () => `token ${supervisor.jupyterToken}`,
    upstreamIdleMs: config.front_door.upstream_idle_seconds * 1000,
    socketPath,
    isRunning: () => supervisor.state === 'running',
    waitForJupyter,
    log: log.child('proxy')
  });

  // A new Jupyter may serve other files under the same names (an upgraded JupyterLab): keep nothing of the last one's.
  supervisor.on('state', state => {
    if (state === 'starting' || state === 'restarting' || state === 'stopping') {
      proxy.dropIdleConnections();
      proxy.cache?.clear();
    }
  });
  const login = createLogin({
    baseUrl: base,
    token,
    sessions,
    trustsForwardedHeaders: req => guard.trustsForwardedHeaders(req),
    isProtected: value => [kernelToken, supervisor.jupyterToken, config.operator.token].some(t => t !== undefined && sameSecret(t, value))
  });
  const stoppedGate = createStoppedGate({ baseUrl: base, apiPrefix, idle, auth, loginCookie: req => login.loginHeaders(req)[1] });
  // A few seconds' old measurement is close enough to refuse what surely crosses the cap; it refreshes in the background.
  const uploadGuard = createUploadGuard({
    contentsPrefix: `${base}api/contents/`,
    capBytes: config.home.cap_bytes,
    home,
    usage: () => snapshots.recentUsage(UPLOAD_SCAN_MAX_AGE_MS),
    hint: () => snapshots.spaceHint()
  });
  const server = createFrontDoor({
    apiPrefix,
    api,
    proxy,
    guard,
    auth,
    login,
    stoppedGate,
    uploadGuard,
    keepAliveTimeoutMs: config.front_door.keep_alive_timeout_seconds * 1000,
    log: log.child('front-door')
  });

  let port: number;
  try {
    port = await listen(server, options.port, config.listen_host);
  } catch (err) {
    db.close();
    throw err;
  }
  env.GPU_WORKSPACE_URL = loopbackUrl(config.listen_host, port, base);
  env.GPU_WORKSPACE_TOKEN = kernelToken;
  const close = async (): Promise<void> => {
    idle.close();
    hooks.close();
    stopKernelWatch();
    events.close();
    server.close();
    server.closeAllConnections();
    snapshots.stop();
    gpu.stop();
    await supervisor.stop();
    await containment.close();
    proxy.close();
    db.close();
    cleanUp();
  };
  try {
    // Before anything reads the home: the first-start template is taken, and a reset a crash interrupted
    // is finished or rolled back (a home emptied half way must not look like an empty home to restore).
    await reset.init();
    // Before Jupyter starts: an empty home gets the latest snapshot back before anyone can write to it.
    // Otherwise the repository opens in the background while Jupyter starts.
    await snapshots.init({ background: true });
    await snapshots.scan().catch(err => log.warn('cannot measure the home folder', { error: (err as Error).message }));
    // The GPU mode decides Jupyter's environment, so it is restored before the first start.
    await gpu.init();
    await supervisor.start();
    snapshots.startSchedule();
  } catch (err) {
    idle.close();
    stopKernelWatch();
    snapshots.stop();
    gpu.stop();
    server.close();
    proxy.close();
    db.close();
    throw err;
  }
  const url = `http://${urlHost(config.listen_host)}:${port}${base}lab?token=${token}`;
  idle.start();
  return { url, token, port, state, supervisor, gpu, idle, snapshots, reset, hooks, close };
}
