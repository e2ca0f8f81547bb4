import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { API_PATH } from '@jupyterlab-gpu-workspace/api';
import { createApi } from './http/api';
import { FrontDoorAuth, sameSecret } from './http/auth';
import { createLogin, Login } from './http/login';
import { SessionKeys } from './http/session';
import { WorkspaceConfig } from './config/schema';
import { StartupError } from './errors';
import { Database, ledgerPath, openDatabase } from './quota/db';
import { GpuService } from './gpu/service';
import { Ledger } from './quota/ledger';
import { createLogger, Logger } from './log';
import { createFrontDoor, listen } from './http/frontDoor';
import { createGuard, FrontDoorGuard } from './http/guard';
import { JupyterProxy } from './http/proxy';
import { ensureSecret, prepareStateDir, StateLayout } from './state/dir';
import { lockStateDir } from './state/lock';
import { makePrivateDir } from './state/privateDir';
import { IsolationSetup, setUpIsolation } from './jupyter/isolation';
import { Containment, setUpContainment } from './jupyter/containment';
import { RunAs } from './jupyter/launch';
import { CpuModeEnforcement, cpuModeEnforcement, findDeviceNodes } from './gpu/deviceNodes';
import { JupyterSupervisor, supervisorTimings } from './jupyter/supervisor';
import { IdleController, idlePolicy } from './idle/controller';
import { watchKernelActivity } from './idle/kernelActivity';
import { LeaseTable, leasePolicy } from './idle/leases';
import { processUid } from './jupyter/processOwner';
import { createStoppedGate } from './http/stoppedGate';
import { LiveEvents } from './http/liveEvents';
import { HomeSnapshotter } from './snapshots/port';
import { createUploadGuard } from './http/uploadGuard';
import { SnapshotService, snapshotPolicy } from './snapshots/service';
import { nbconvertCommand, submitHomeProblems } from './submit/manifest';
import { SubmitService } from './submit/service';
import { ResetService, resetPolicy } from './reset/service';
import { PtyHookRunner } from './hooks/runner';
import type { HookEvent, IsolationStatus } from '@jupyterlab-gpu-workspace/api';
import { Teardown } from './teardown';

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
function jupyterRunFiles(state: StateLayout, runAs: RunAs | null, teardown: Teardown): JupyterRunFiles {
  if (!runAs) {
    return { socketPath: state.socketPath, cookieSecretFile: state.cookieSecretFile, tokenFile: path.join(path.dirname(state.socketPath), 'jupyter_token') };
  }
  const socketDir = makePrivateDir('gpu-workspace-jupyter-', runAs.user);
  const readDir = makePrivateDir('gpu-workspace-jupyter-files-');
  fs.chmodSync(readDir, 0o711);
  teardown.add('jupyter run files', () => {
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

/** What decides where notebook code runs: its user, whether CPU mode holds, what the workspace's processes are, Jupyter's files. */
interface Processes {
  isolation: IsolationSetup;
  isolationStatus: IsolationStatus;
  enforcement: CpuModeEnforcement;
  containment: Containment;
  runFiles: JupyterRunFiles;
}

/** Jupyter and the records beside it: the ledger, the snapshots, the GPU mode. */
interface Core {
  /** Jupyter's environment; GPU_WORKSPACE_URL and GPU_WORKSPACE_TOKEN are added once the port is known. */
  env: NodeJS.ProcessEnv;
  jupyterCommand: string[];
  supervisor: JupyterSupervisor;
  db: Database;
  ledger: Ledger;
  snapshots: SnapshotService;
  gpu: GpuService;
  /** The ledger did not exist yet: the home is as the operator provided it. */
  firstStart: boolean;
}

/** What the user works with beyond Jupyter. */
interface Services {
  leases: LeaseTable;
  idle: IdleController;
  hooks: PtyHookRunner;
  submit: SubmitService;
  reset: ResetService;
  events: LiveEvents;
}

/** Who may call, as the front door and the API check it. */
interface Access {
  token: string;
  /** Kernels hold keep-awake leases with it: it may do that and read the status, nothing else. */
  kernelToken: string;
  auth: FrontDoorAuth;
  guard: FrontDoorGuard;
  login: Login;
}

/**
 * Starts the workspace: the front-door HTTP server first (so a taken port
 * fails fast), then Jupyter on its private socket. Resolves once both run.
 * Every part registers its undoing as it is built; close() and a start-up
 * that fails half way run that one list.
 */
export async function serve(options: ServeOptions): Promise<RunningWorkspace> {
  const { config } = options;
  const log = options.logger ?? createLogger(config.log_level);
  const home = path.resolve(options.home);
  const state = prepareStateDir(options.stateDir);
  // Before anything touches the socket or the ledger: a second sidecar must not take over the first's.
  const lock = lockStateDir(state.root);
  const teardown = new Teardown(log.child('teardown'));
  teardown.add('state lock', () => lock.release());
  try {
    const processes = setUpProcesses(config, home, state, log, teardown);
    const core = buildCore(options, log, home, state, processes, teardown);
    const services = buildServices(options, log, home, state, core, processes, teardown);
    const access = buildAccess(options, state, core, processes);
    const server = buildFrontDoor(config, log, home, core, services, processes, access, teardown);
    return await startInOrder(options, log, state, core, services, processes, access, server, teardown);
  } catch (err) {
    await teardown.run();
    throw err;
  }
}

/** The home is a folder, and what submit requires can be in it. */
function checkHome(config: WorkspaceConfig, home: string): void {
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
}

function setUpProcesses(config: WorkspaceConfig, home: string, state: StateLayout, log: Logger, teardown: Teardown): Processes {
  // Isolation first: it makes the notebook user's home where there is none yet.
  const isolation = setUpIsolation({ user: config.jupyter.user, deviceGroup: config.gpu.device_group, home });
  checkHome(config, home);
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
  teardown.add('containment', () => containment.close());
  if (containment.status.escapes) {
    log.warn('processes that detach from Jupyter outlive stops and GPU switches', { reason: containment.status.reason });
  }
  const runFiles = jupyterRunFiles(state, isolation.runAs, teardown);
  return { isolation, isolationStatus: { ...isolation.status, containment: containment.status }, enforcement, containment, runFiles };
}

function buildCore(options: ServeOptions, log: Logger, home: string, state: StateLayout, p: Processes, teardown: Teardown): Core {
  const { config } = options;
  const runAs = p.isolation.runAs;
  const env = jupyterEnv(runAs !== null);
  const jupyterCommand = config.jupyter.command.length ? config.jupyter.command : defaultJupyterCommand();
  const supervisor = new JupyterSupervisor({
    command: jupyterCommand,
    extraArgs: config.jupyter.extra_args,
    home,
    ...p.runFiles,
    deleteToTrash: config.home.trash,
    baseUrl: config.base_url,
    env,
    runAs,
    containment: p.containment,
    ...supervisorTimings(config),
    log: log.child('supervisor')
  });
  teardown.add('jupyter', () => supervisor.stop());
  const firstStart = !fs.existsSync(ledgerPath(state.root));
  const db = openDatabase(ledgerPath(state.root));
  teardown.add('ledger', () => {
    db.close();
  });
  const ledger = new Ledger(db);
  const snapshots = new SnapshotService({ home, stateDir: state.root, policy: snapshotPolicy(config), runAs, log: log.child('snapshots') });
  teardown.add('snapshots', () => snapshots.stop());
  const gpu = new GpuService(config.gpu, ledger, supervisor, log.child('gpu'), {
    cpuModeEnforcement: p.enforcement,
    snapshotter: config.snapshots.before_gpu_switch ? snapshots : undefined
  });
  teardown.add('gpu', () => gpu.stop());
  return { env, jupyterCommand, supervisor, db, ledger, snapshots, gpu, firstStart };
}

function buildServices(options: ServeOptions, log: Logger, home: string, state: StateLayout, core: Core, p: Processes, teardown: Teardown): Services {
  const { config } = options;
  const { supervisor, snapshots, gpu, ledger } = core;
  const runAs = p.isolation.runAs;
  // What the idle stop, the end of keep-awake and a submission snapshot with (the caller may give none: null).
  const snapshotter = options.snapshotter === undefined ? snapshots : options.snapshotter;
  const leases = new LeaseTable({ policy: leasePolicy(config), ownerUid: runAs?.user.uid ?? (process.getuid?.() ?? 0), processUid });
  const idle = new IdleController({ policy: idlePolicy(config), leases, supervisor, snapshotter, log: log.child('idle') });
  teardown.add('idle', () => idle.close());
  const hooks = new PtyHookRunner({
    runAs,
    home,
    env: () => core.env,
    // `jupyter nbconvert` in a hook is the workspace's own Jupyter, as in its terminals.
    pathPrepend: path.isAbsolute(core.jupyterCommand[0]) ? [path.dirname(core.jupyterCommand[0])] : [],
    log: log.child('hooks')
  });
  teardown.add('hooks', () => hooks.close());
  const submit = new SubmitService({
    config: config.submit,
    home,
    stateDir: state.root,
    exclude: config.home.exclude,
    runAs,
    db: core.db,
    ledger,
    snapshotter,
    hooks,
    nbconvert: nbconvertCommand(config.submit.nbconvert_command, core.jupyterCommand),
    log: log.child('submit')
  });
  const reset = new ResetService({
    home,
    stateDir: state.root,
    policy: resetPolicy(config),
    runAs,
    firstStart: core.firstStart,
    supervisor,
    blockedBy: () => (gpu.status().mode === 'switching' ? 'A GPU switch is under way. Try again once it is over.' : null),
    snapshotter: snapshots,
    restorer: snapshots,
    hooks,
    audit: (actor, action, detail) => ledger.audit(actor, action, detail),
    log: log.child('reset')
  });
  const events = liveEvents(core, idle, hooks, teardown);
  return { leases, idle, hooks, submit, reset, events };
}

/** The page's live channel: every change of Jupyter, the GPU mode, the quota and the idle state, and hook output. */
function liveEvents(core: Core, idle: IdleController, hooks: PtyHookRunner, teardown: Teardown): LiveEvents {
  const { supervisor, gpu } = core;
  const events = new LiveEvents({
    snapshot: () => ({ jupyter: supervisor.status(), gpu: gpu.status(), quota: gpu.quotaStatus(), idle: idle.status() })
  });
  teardown.add('live events', () => events.close());
  idle.on('changed', () => events.changed());
  idle.on('notice', notice => events.notice(notice));
  hooks.on('hook', (event: HookEvent) => events.hook(event));
  gpu.on('changed', () => events.changed());
  supervisor.on('state', () => events.changed());
  return events;
}

function buildAccess(options: ServeOptions, state: StateLayout, core: Core, p: Processes): Access {
  const { config } = options;
  const { supervisor } = core;
  const token = options.token ?? ensureSecret(state.tokenFile);
  // It lives as long as this sidecar (kernels do not outlive it).
  const kernelToken = randomBytes(24).toString('hex');
  const userName = p.isolation.status.user;
  const sessions = new SessionKeys(Buffer.from(ensureSecret(state.sessionKeyFile), 'hex'));
  const auth = new FrontDoorAuth({
    token,
    kernelToken,
    operatorToken: config.operator.token,
    jupyterToken: () => supervisor.jupyterToken,
    sessions,
    identity: { username: userName, name: userName, display_name: userName }
  });
  const guard = createGuard({ allowedHosts: config.allowed_hosts, listenHost: config.listen_host, trustedProxies: config.trusted_proxies, auth });
  const login = createLogin({
    baseUrl: config.base_url,
    token,
    sessions,
    trustsForwardedHeaders: req => guard.trustsForwardedHeaders(req),
    isProtected: value => [kernelToken, supervisor.jupyterToken, config.operator.token].some(t => t !== undefined && sameSecret(t, value))
  });
  return { token, kernelToken, auth, guard, login };
}

function buildFrontDoor(config: WorkspaceConfig, log: Logger, home: string, core: Core, s: Services, p: Processes, a: Access, teardown: Teardown): http.Server {
  const { supervisor, snapshots, gpu, ledger } = core;
  const base = config.base_url;
  const apiPrefix = `${base}${API_PATH}`;
  const api = createApi({
    prefix: apiPrefix,
    supervisor,
    auth: a.auth,
    gpu,
    ledger,
    isolation: p.isolationStatus,
    operatorToken: config.operator.token,
    maxBodyBytes: config.api.max_body_bytes,
    log: log.child('api'),
    snapshots,
    ...s
  });
  const proxy = jupyterProxy(config, log, core, p, a, teardown);
  const stoppedGate = createStoppedGate({ baseUrl: base, apiPrefix, idle: s.idle, auth: a.auth, loginCookie: req => a.login.loginHeaders(req)[1] });
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
    guard: a.guard,
    auth: a.auth,
    login: a.login,
    stoppedGate,
    uploadGuard,
    keepAliveTimeoutMs: config.front_door.keep_alive_timeout_seconds * 1000,
    log: log.child('front-door')
  });
  teardown.add('front door', () => {
    server.close();
    server.closeAllConnections();
  });
  return server;
}

/** The pass-through to Jupyter's socket, which forgets its pooled connections and kept assets whenever Jupyter goes. */
function jupyterProxy(config: WorkspaceConfig, log: Logger, core: Core, p: Processes, a: Access, teardown: Teardown): JupyterProxy {
  const { supervisor } = core;
  const holdMs = config.jupyter.request_hold_seconds * 1000;
  const proxy = new JupyterProxy({
    trustsForwardedHeaders: req => a.guard.trustsForwardedHeaders(req),
    jupyterAuthorization: () => `token ${supervisor.jupyterToken}`,
    upstreamIdleMs: config.front_door.upstream_idle_seconds * 1000,
    socketPath: p.runFiles.socketPath,
    isRunning: () => supervisor.state === 'running',
    waitForJupyter: () => supervisor.whenRunning(holdMs),
    log: log.child('proxy')
  });
  teardown.add('proxy', () => proxy.close());
  // A new Jupyter may serve other files under the same names (an upgraded JupyterLab): keep nothing of the last one's.
  supervisor.on('state', state => {
    if (state === 'starting' || state === 'restarting' || state === 'stopping') {
      proxy.dropIdleConnections();
      proxy.cache?.clear();
    }
  });
  return proxy;
}

/** Listens, then brings the home, the snapshots, the GPU mode and Jupyter up in the order each needs. */
async function startInOrder(
  options: ServeOptions,
  log: Logger,
  state: StateLayout,
  core: Core,
  s: Services,
  p: Processes,
  a: Access,
  server: http.Server,
  teardown: Teardown
): Promise<RunningWorkspace> {
  const { config } = options;
  const { supervisor, snapshots, gpu } = core;
  const base = config.base_url;
  const port = await listen(server, options.port, config.listen_host);
  core.env.GPU_WORKSPACE_URL = loopbackUrl(config.listen_host, port, base);
  core.env.GPU_WORKSPACE_TOKEN = a.kernelToken;
  // Before anything reads the home: the first-start template is taken, and a reset a crash interrupted
  // is finished or rolled back (a home emptied half way must not look like an empty home to restore).
  await s.reset.init();
  // Before Jupyter starts: an empty home gets the latest snapshot back before anyone can write to it.
  // Otherwise the repository opens in the background while Jupyter starts.
  await snapshots.init({ background: true });
  await snapshots.scan().catch(err => log.warn('cannot measure the home folder', { error: (err as Error).message }));
  // The GPU mode decides Jupyter's environment, so it is restored before the first start.
  await gpu.init();
  await supervisor.start();
  snapshots.startSchedule();
  watchKernels(config, log, core, s, p.runFiles.socketPath, teardown);
  s.idle.start();
  const url = `http://${urlHost(config.listen_host)}:${port}${base}lab?token=${a.token}`;
  return { url, token: a.token, port, state, supervisor, gpu, idle: s.idle, snapshots, reset: s.reset, hooks: s.hooks, close: () => teardown.run() };
}

/** With idle.signals user_or_kernels, a busy kernel counts as activity (Jupyter's execution_state, polled). */
function watchKernels(config: WorkspaceConfig, log: Logger, core: Core, s: Services, socketPath: string, teardown: Teardown): void {
  if (config.idle.signals !== 'user_or_kernels') {
    return;
  }
  const { supervisor } = core;
  const stop = watchKernelActivity({
    socketPath,
    baseUrl: config.base_url,
    token: () => supervisor.jupyterToken,
    intervalMs: config.idle.kernel_poll_seconds * 1000,
    isRunning: () => supervisor.state === 'running',
    onBusy: () => s.idle.activity('kernel'),
    log: log.child('idle')
  });
  teardown.add('kernel watch', stop);
}
