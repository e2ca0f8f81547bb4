/**
 * The GPU workspace API, version 1: the one definition of what travels
 * between the JupyterLab extension, the sidecar and the tests. The sidecar's
 * handlers are typed against these, the extension reads them, and
 * `sidecar/openapi.yaml` documents them (a test checks the document against
 * the sidecar's real router). Types only, plus a few constants and the one
 * size formatter both sides write with: nothing here may pull in Node or
 * browser code.
 */

export { formatBytes } from './format';
export * from './endpoints';

/** Bumped only on breaking changes; the path segment /api/v1 follows it. */
export const API_VERSION = 1;

/** Where the API lives below the workspace's base URL (no leading or trailing slash). */
export const API_PATH = 'gpu-workspace/api/v1';

/** Every `code` an error body may carry; the status says how bad, the code says what. */
export const ERROR_CODES = [
  'bad_request',
  'bad_json',
  'unauthorized',
  'forbidden',
  'not_found',
  'method_not_allowed',
  'too_large',
  /** Another GPU switch or server restart is under way. */
  'busy',
  /** The sidecar is shutting down. */
  'stopping',
  /** A ledger state conflict (a session already open or none open). */
  'conflict',
  'gpu_unavailable',
  'quota_exhausted',
  /** Jupyter is not running (restarting, crashed), so the request could not be served. */
  'jupyter_unavailable',
  /** Jupyter could not be started. */
  'jupyter_failed',
  /** The workspace was stopped for inactivity: only status, events and server/start answer until it is started again. */
  'stopped',
  /** Too many requests of one kind (keep-awake leases): the message says the limit. */
  'rate_limited',
  /** The home folder is over its size cap: the snapshot (or upload) is refused; `largest` lists what uses the space. */
  'over_cap',
  /** Snapshots cannot be taken or read (no repository, a missing or wrong repository password, restic failing). */
  'snapshots_unavailable',
  /** An operator hook (post-reset hook, a conversion, a command destination) failed or hit its time limit; `hook` holds its run. */
  'hook_failed',
  /** POST submit: required files are missing (or a conversion has nothing to convert); `missing` lists them. */
  'submission_incomplete',
  /** The submission was built but its delivery failed; `receipt` holds the receipt (the archive is kept for a retry). */
  'delivery_failed',
  'internal'
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** The body of every 4xx/5xx answer from the API. `message` is written to be shown to a user. */
export interface ErrorBody {
  message: string;
  code: ErrorCode;
}

/** GET health (no auth): liveness of the sidecar itself, not of Jupyter. */
export interface HealthResponse {
  status: 'ok';
}

export type JupyterState = 'stopped' | 'starting' | 'running' | 'stopping' | 'restarting' | 'crashed';

export interface JupyterStatus {
  state: JupyterState;
  pid: number | null;
  started_at: string | null;
  /** Counts every successful start; a restart is complete once this grows and the state is "running". */
  generation: number;
  restarts: number;
  crashes: number;
  last_exit: string | null;
  /** Why the last start or restart failed; null once one succeeds. */
  last_error: string | null;
}

export interface GpuDevice {
  index: number;
  uuid: string;
  name: string;
  memory_total_mib: number;
  memory_used_mib: number;
  /** null when the board does not report it ("[N/A]"). */
  utilization_percent: number | null;
}

export interface GpuProfile {
  name: string;
  label: string;
  /** GPU hours charged per hour in this profile (1 for a whole GPU, 0.5 for half). */
  weight: number;
  /** What CUDA_VISIBLE_DEVICES is set to; null: every GPU found. */
  devices: string | null;
}

export type GpuMode = 'on' | 'off' | 'switching';

/** Why the sidecar itself switched GPU mode (not a person). */
export type GpuSwitchReason = 'user' | 'quota_exhausted';

export interface GpuStatus {
  available: boolean;
  /** Why GPU mode is unavailable, in words for the user; null when available. */
  reason: string | null;
  mode: GpuMode;
  /** The mode a switch under way goes to. */
  target: 'on' | 'off' | null;
  /** Who started the switch under way (or the last one). */
  switch_reason: GpuSwitchReason | null;
  /** Why the last switch failed; null after one succeeds. */
  last_error: string | null;
  devices: GpuDevice[];
  profile: string | null;
  profiles: GpuProfile[];
  /** Since when every GPU has been under the idle threshold while GPU mode is on (ISO), else null. */
  idle_since: string | null;
  idle_warning: boolean;
  idle_warning_minutes: number;
  /** Why utilisation could not be read (nvidia-smi failing or hanging); null when it could. */
  utilization_error: string | null;
  /**
   * Whether CPU mode is enforced by the operating system (Jupyter runs as the
   * notebook user without the GPU device group), not only by CUDA_VISIBLE_DEVICES.
   */
  cpu_mode_enforced: boolean;
  /** Why CPU mode is not enforced, for the operator; null when it is. */
  cpu_mode_reason: string | null;
  /** Workspace processes the watchdog stopped for holding GPU memory in CPU mode, newest first (at most 10). */
  watchdog_stopped: WatchdogStop[];
  /**
   * Set when the hours ran out: the sidecar switches to CPU mode at this time (ISO).
   * Open pages save their documents before then; a grant cancels it.
   */
  exhausted_switch_at: string | null;
}

export interface WatchdogStop {
  pid: number;
  /** The process's command line, shortened. */
  command: string;
  used_memory_mib: number;
  at: string;
}

export interface QuotaStatus {
  allocation_seconds: number;
  used_seconds: number;
  /** Never negative. */
  remaining_seconds: number;
  granted_seconds: number;
  /** "total", "day", "week" or "rolling:<N>h". */
  period: string;
  /** ISO time; null: the window has no start ("total"). */
  window_start: string | null;
  /** ISO time; null: the allocation never resets. */
  next_reset: string | null;
  /** GPU seconds charged per second right now (the profile's weight while metering, else 0). */
  burn_rate: number;
  /** Minutes-left thresholds at which the user is warned, largest first. */
  warn_minutes: number[];
}

export interface UserInfo {
  username: string;
  name: string;
}

/** Whether notebook code is kept away from the sidecar's state (ledger, secrets) and process. */
export interface IsolationStatus {
  /** The Unix user Jupyter, kernels and terminals run as. */
  user: string;
  /** True when that user is not the sidecar's own and the state directory is the sidecar's alone. */
  enforced: boolean;
  /** Why isolation is not enforced, and what to do; null when it is. */
  reason: string | null;
  /** How stops, GPU switches, resets and the GPU watchdog find the workspace's processes. */
  containment: ContainmentStatus;
}

/**
 * `cgroup`: a cgroup v2 of the workspace's own, which every kernel, terminal and
 * detached (`setsid`) process is born in. `uid`: every process whose real uid is
 * the notebook user's (one workspace per notebook user). `tree`: Jupyter's
 * descendants only, which a detached process leaves.
 */
export type ContainmentStrategy = 'cgroup' | 'uid' | 'tree';

export interface ContainmentStatus {
  strategy: ContainmentStrategy;
  /** What the workspace is, in words: the cgroup's path, the uid, or Jupyter's process tree. */
  scope: string;
  /** True when a process that detaches (setsid, a double fork) can outlive stops and escape the watchdog. */
  escapes: boolean;
  /** Why this strategy and not a stronger one, or what it assumes; null for a cgroup. */
  reason: string | null;
}

/** GET status */
export interface StatusResponse {
  version: string;
  api_version: number;
  jupyter: JupyterStatus;
  user: UserInfo;
  isolation: IsolationStatus;
  gpu: GpuStatus;
  quota: QuotaStatus;
  idle: IdleStatus;
}

/** POST gpu */
export interface GpuSwitchRequest {
  enabled: boolean;
  /** A profile name from `gpu.profiles`; default: the current or first profile. */
  profile?: string;
}

/** 202 to POST gpu: the switch runs; `status` shows its progress and outcome. */
export interface GpuSwitchAccepted {
  gpu: GpuStatus;
  quota: QuotaStatus;
  jupyter: JupyterStatus;
}

/** 202 to POST server/restart: the restart runs; `status` shows its progress and outcome. */
export interface RestartAccepted {
  jupyter: JupyterStatus;
}

export interface UsageSession {
  id: number;
  profile: string;
  weight: number;
  started_at: string;
  ended_at: string | null;
  charged_seconds: number;
}

export interface UsageGrant {
  id: number;
  at: string;
  hours: number;
  reason: string;
  actor: string;
}

/** GET usage: this period's GPU sessions and grants. */
export interface UsageResponse {
  quota: QuotaStatus;
  sessions: UsageSession[];
  grants: UsageGrant[];
}

/** POST quota/grants (operator token) */
export interface GrantRequest {
  hours: number;
  reason: string;
}

export interface GrantRecord {
  id: number;
  hours: number;
  reason: string;
  actor: string;
  granted_at_ms: number;
}

/** 201 to POST quota/grants */
export interface GrantResponse {
  grant: GrantRecord;
  quota: QuotaStatus;
}

/**
 * Why a home snapshot was taken; each snapshot carries its trigger as a tag.
 * The idle stop, the end of keep-awake, a GPU switch, reset and submit each
 * ask for one at their own moment.
 */
export const SNAPSHOT_TRIGGERS = ['schedule', 'idle-stop', 'gpu-switch', 'pre-reset', 'pre-submit', 'keep-awake-end', 'manual'] as const;
export type SnapshotTrigger = (typeof SNAPSHOT_TRIGGERS)[number];

/**
 * The inactivity policy's state. `active`: the idle clock runs; `warning`:
 * the stop is less than `warning_minutes` away; `held`: keep-awake leases
 * hold the workspace (no deadline); `stopped`: Jupyter was stopped for
 * inactivity and waits for POST server/start.
 */
export type IdleState = 'active' | 'warning' | 'held' | 'stopped';

/** What counts as activity: user input and leases, or also busy kernels. */
export type IdleSignals = 'user' | 'user_or_kernels';

/** A keep-awake lease: a process of the workspace holding it awake. */
export interface KeepAwakeLease {
  id: string;
  label: string;
  /** The holder's process id; the lease ends when it exits. */
  pid: number;
  started_at: string;
  last_heartbeat: string;
  /** When the lease ends even if it is still heartbeating (`keep_awake.max_hours`, or the ttl asked for). */
  ends_at: string;
}

export interface IdleStatus {
  state: IdleState;
  /** When the workspace stops unless something happens (ISO); null while held or stopped. */
  deadline: string | null;
  /** When the warning lead starts (ISO); null while held or stopped. */
  warning_at: string | null;
  leases: KeepAwakeLease[];
  /** When the workspace was stopped for inactivity (ISO); null unless stopped. */
  stopped_at: string | null;
  /** The last activity that counted (ISO). */
  last_activity: string;
  timeout_minutes: number;
  warning_minutes: number;
  signals: IdleSignals;
  max_hours: number;
  /** How often a lease holder must heartbeat; a lease missing heartbeats for 3 times this long ends. */
  heartbeat_seconds: number;
  /** Whether a start asked for with POST server/start is under way. */
  starting: boolean;
}

/** POST activity: the page saw real input (throttled). */
export interface ActivityResponse {
  idle: IdleStatus;
}

/** POST leases */
export interface LeaseRequest {
  /** Shown to the user, e.g. "training loop" (at most 200 characters). */
  label: string;
  /** The holder's process id: it must exist and belong to the notebook user. */
  pid: number;
  /** Longest the lease may last, in seconds; capped at `keep_awake.max_hours`. */
  ttl_seconds?: number;
}

/** 201 to POST leases */
export interface LeaseResponse {
  lease: KeepAwakeLease;
  /** The ttl granted, in seconds. */
  ttl_seconds: number;
  /** True when the ttl asked for was above the cap and was lowered to it. */
  capped: boolean;
  /** Why the ttl was capped, in words; null when it was not. */
  note: string | null;
  heartbeat_seconds: number;
}

/** 202 (or 200 when already running) to POST server/start */
export interface StartAccepted {
  jupyter: JupyterStatus;
  idle: IdleStatus;
}

/**
 * One message of GET events (Server-Sent Events; the `event:` field names
 * the kind, `data:` is this JSON). `state` carries everything live; it is
 * sent once on connect and again on every change.
 */
export interface LiveState {
  jupyter: JupyterStatus;
  gpu: GpuStatus;
  quota: QuotaStatus;
  idle: IdleStatus;
}

/** What the sidecar tells open pages about keep-awake, besides the state. */
export interface IdleNotice {
  /** `lease_ended`: the last lease ended, the idle clock runs again and unsaved results are at risk. */
  kind: 'lease_ended' | 'stopped' | 'started';
  message: string;
  /** Snapshot taken at that moment (or why not); null where snapshots are not set up. */
  snapshot: string | null;
}

/** Names of the SSE events on GET events. */
export const LIVE_EVENTS = ['state', 'notice', 'hook'] as const;
export type LiveEventName = (typeof LIVE_EVENTS)[number];

/** A file or folder in the home that uses much space. */
export interface SpaceUser {
  /** Relative to the home folder. */
  path: string;
  bytes: number;
  kind: 'folder' | 'file';
}

/** The Trash JupyterLab's delete moves files to, where the operator keeps one (`home.trash`). */
export interface TrashUsage {
  /** Relative to the home: ".local/share/Trash". */
  path: string;
  /** What it holds, counted against the cap like any other folder. */
  bytes: number;
}

/** GET home/usage: the home folder's size against its cap (excluded caches do not count). */
export interface HomeUsageResponse {
  used_bytes: number;
  cap_bytes: number;
  /** The largest folders (two levels deep) and files, largest first. */
  largest: SpaceUser[];
  /** The Trash, where deleting keeps files (`home.trash`); null where deleting deletes. */
  trash: TrashUsage | null;
  /** When the home was measured (ISO). */
  scanned_at: string;
}

/** POST home/trash/empty: what emptying the Trash freed, and the home's usage after it. */
export interface TrashEmptied {
  freed_bytes: number;
  usage: HomeUsageResponse;
}

/** 409 to POST snapshots (code "over_cap") when the home is over its cap. */
export interface OverCapBody extends ErrorBody {
  used_bytes: number;
  cap_bytes: number;
  largest: SpaceUser[];
}

export interface SnapshotInfo {
  /** restic's short id (8 hex digits); the API also accepts the full id. */
  id: string;
  /** ISO time the snapshot was taken. */
  time: string;
  trigger: SnapshotTrigger;
  /** Bytes of the home the snapshot holds; null when unknown (taken outside the sidecar). */
  size_bytes: number | null;
  /** Files new or changed since the snapshot before it; null when unknown. */
  changes: number | null;
  files_new: number | null;
  files_changed: number | null;
  /** New data this snapshot added to the repository. */
  added_bytes: number | null;
}

/** What the snapshot engine is doing right now. */
export interface SnapshotActivity {
  operation: 'snapshot' | 'restore' | 'prune' | 'check';
  trigger: SnapshotTrigger | null;
  started_at: string;
  /** 0 to 1 while restic reports progress; null before. */
  percent: number | null;
  bytes_done: number | null;
  total_bytes: number | null;
  /** Operations waiting behind this one. */
  waiting: number;
}

/** GET snapshots: newest first. */
export interface SnapshotListResponse {
  snapshots: SnapshotInfo[];
  /** false when snapshots cannot be taken; `reason` says why. */
  available: boolean;
  reason: string | null;
  running: SnapshotActivity | null;
}

/** POST snapshots `{}`: 201 once the snapshot is written (operations are serialised: it waits for one under way). */
export interface SnapshotCreated {
  id: string;
  snapshot: SnapshotInfo;
}

export interface SnapshotFileEntry {
  name: string;
  /** Relative to the home folder. */
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  size: number | null;
  mtime: string | null;
}

/** GET snapshots/{id}/files?path=rel: one folder of a snapshot. */
export interface SnapshotFilesResponse {
  id: string;
  path: string;
  entries: SnapshotFileEntry[];
}

/** POST snapshots/{id}/restore */
export interface RestoreRequest {
  path: string;
}

/** 200 to POST snapshots/{id}/restore: where the file or folder was put, relative to the home (its own path when free, else beside it). */
export interface RestoreResponse {
  restored_to: string;
}

/** 200 to POST snapshots/{id}/restore-home: the home now holds the snapshot; `undo_snapshot` holds what it held before. */
export interface RestoreHomeResponse {
  undo_snapshot: string;
}

/** One run of an operator hook (node-pty, as the notebook user); its output streams while it runs. */
export type HookRunState = 'running' | 'succeeded' | 'failed' | 'timed-out';

export interface HookRunSummary {
  id: string;
  /** What it is for, in words: "Post-reset hook", "Convert analysis.ipynb to HTML". */
  title: string;
  /** The argv, as configured (no shell). */
  command: string[];
  state: HookRunState;
  exit_code: number | null;
  /** The signal that ended it ("SIGKILL" at the time limit), or null. */
  signal: string | null;
  started_at: string;
  ended_at: string | null;
  timeout_seconds: number;
}

/** GET hooks/runs/{id}?since=N: the run and its output (terminal text with ANSI colours) from character N on. */
export interface HookRunResponse extends HookRunSummary {
  output: string;
  /** Where the output sent ends; ask with since=this for what comes next. */
  output_end: number;
  /** Output older than this was dropped (the log keeps its last part). */
  output_start: number;
}

/** GET hooks/runs: the latest runs, newest first. */
export interface HookRunListResponse {
  runs: HookRunSummary[];
}

/** The `hook` field of a `hook_failed` error body: which run failed, and the end of its log. */
export interface HookFailure {
  run: HookRunSummary;
  output_tail: string;
}

/** A file of the home the checklist or the archive leaves out, and why (a symbolic link, not a regular file, unreadable). */
export interface SubmitSkipped {
  /** Relative to the home folder. */
  path: string;
  reason: string;
}

/** A file that would go into the submission, as the checklist found it. */
export interface SubmitFile {
  /** Relative to the home folder. */
  path: string;
  bytes: number;
}

/** One required entry of the operator's manifest (`submit.required`): a path or glob relative to the home. */
export interface SubmitItem {
  /** The entry as the operator wrote it, e.g. "project.ipynb" or "notebooks/*.ipynb". */
  path: string;
  /** At least one regular file matches it. */
  present: boolean;
  /** The files it matches (a folder matches every file below it). */
  files: SubmitFile[];
  /** What matched but is left out (a link is never followed), with why. */
  skipped: SubmitSkipped[];
}

/** One conversion of the manifest (`submit.conversions`) and what it will run on. */
export interface SubmitConversion {
  /** The glob of the files converted, as the operator wrote it. */
  from: string;
  to: 'html';
  /** The files it will convert, relative to the home. */
  sources: string[];
  /** The files it will add to the archive (beside each source: "a/b.ipynb" → "a/b.html"). */
  outputs: string[];
  /** False when no file matches `from`: the checklist is then incomplete. */
  ready: boolean;
}

/** Where a submission goes, without secrets: "directory" → the folder, "http" → the URL, "command" → the program. */
export interface SubmitDestinationInfo {
  type: 'directory' | 'http' | 'command';
  where: string;
}

export type SubmitPhase = 'checking' | 'converting' | 'archiving' | 'snapshot' | 'delivering';

/** A submission (or retry) under way; only one runs at a time. */
export interface SubmitActivity {
  /** The receipt's id once the archive is built; null before. */
  id: string | null;
  phase: SubmitPhase;
  started_at: string;
  retry: boolean;
}

/** GET submit: the checklist the user sees before submitting. */
export interface SubmitChecklist {
  /** Whether the operator enabled submission (`submit.enabled`); when false nothing else here matters and POST submit is refused. */
  enabled: boolean;
  /** Every required entry is present, every conversion has a file to convert, and the total is within `max_bytes`. */
  ready: boolean;
  /** Why it is not ready, in words for the user; null when ready. */
  reason: string | null;
  items: SubmitItem[];
  conversions: SubmitConversion[];
  /** The required entries that are missing (their `path`s), and conversions with nothing to convert ("from" globs). */
  missing: string[];
  /** Bytes of the home's files that go into the archive (conversion outputs are added when they run). */
  total_bytes: number;
  /** The operator's limit on the files' bytes (`submit.max_bytes`). */
  max_bytes: number;
  file_count: number;
  destination: SubmitDestinationInfo | null;
  /** A submission under way, or null. */
  running: SubmitActivity | null;
}

/** POST submit: takes no fields. */
export type SubmitRequest = Record<string, never>;

/** One file of a submitted archive. */
export interface SubmittedFile {
  /** Its name in the archive: its path relative to the home (a conversion's output sits beside its source). */
  path: string;
  sha256: string;
  bytes: number;
  /** "home": the file as it was in the home; "conversion": made by a conversion at submission time. */
  source: 'home' | 'conversion';
}

/** How long each phase of a submission took, in milliseconds (null: not run). */
export interface SubmitPhaseTimes {
  conversion: number | null;
  archive: number | null;
  snapshot: number | null;
  delivery: number | null;
}

/**
 * The record of one submission, kept in the ledger database (it survives
 * restarts). The archive carries MANIFEST.json (and manifest.sha256, in
 * sha256sum's format) with the same sums as `files`.
 */
export interface SubmissionReceipt {
  id: string;
  /** When the archive was built (ISO). */
  submitted_at: string;
  /** Who submitted (the Jupyter user name). */
  actor: string;
  files: SubmittedFile[];
  /** Left out of the archive, with why (symbolic links are never followed). */
  skipped: SubmitSkipped[];
  /** The archive's file name at the destination. */
  archive_name: string;
  archive_sha256: string;
  /** The archive's size in bytes. */
  bytes: number;
  /** The files' total size in bytes (what `submit.max_bytes` limits). */
  content_bytes: number;
  destination: SubmitDestinationInfo & {
    /** Where the archive landed, when the destination says: the file in the exchange folder, the HTTP status. */
    detail: string | null;
  };
  outcome: 'delivered' | 'failed';
  /** Why the delivery failed, in words; null once delivered. */
  error: string | null;
  /** The pre-submit snapshot of the home, or null with `snapshot_note` saying why none was taken. */
  snapshot_id: string | null;
  snapshot_note: string | null;
  /** Deliveries tried (1 after the first; each retry adds one). */
  attempts: number;
  last_attempt_at: string;
  delivered_at: string | null;
  /** The archive is kept in the state directory until delivered, so it can be retried. */
  archive_kept: boolean;
  /** The hook run of a command destination's last attempt (its log), or null. */
  hook_run_id: string | null;
  phases_ms: SubmitPhaseTimes;
}

/** GET submissions: newest first. Cheap (no look at the home): the page asks it to know whether to offer Submit Project. */
export interface SubmissionListResponse {
  /** Whether the operator enabled submission (`submit.enabled`). */
  enabled: boolean;
  submissions: SubmissionReceipt[];
  running: SubmitActivity | null;
}

/** 422 to POST submit (code "submission_incomplete"). */
export interface SubmissionIncompleteBody extends ErrorBody {
  missing: string[];
}

/** 413 to POST submit (code "too_large"): the files' total against the limit, and the largest files. */
export interface SubmissionTooLargeBody extends ErrorBody {
  total_bytes: number;
  max_bytes: number;
  largest: SubmitFile[];
}

/** 502 to POST submit or POST submissions/{id}/retry (code "delivery_failed"): the receipt of the failed delivery. */
export interface DeliveryFailedBody extends ErrorBody {
  receipt: SubmissionReceipt;
}

/** The exact text POST reset wants in `confirm`; anything else is refused (400) and nothing changes. */
export const RESET_CONFIRMATION = 'Reset data';

/** POST reset */
export interface ResetRequest {
  /** Exactly `Reset data` (RESET_CONFIRMATION). */
  confirm: string;
}

/** How long each step of a reset took, in milliseconds. */
export interface ResetTimings {
  /** The pre-reset snapshot. */
  snapshot_ms: number;
  /** Copying the template into the staging folder (Jupyter still runs meanwhile). */
  prepare_ms: number;
  /** Stopping Jupyter, its kernels and terminals. */
  stop_ms: number;
  /** Swapping the home's contents for the staged template. */
  swap_ms: number;
  /** The post-reset hook; 0 when there is none. */
  hook_ms: number;
  /** Starting Jupyter again. */
  start_ms: number;
}

/** 200 to POST reset: the home holds a clean copy of the template and Jupyter runs again. */
export interface ResetResponse {
  /** The journal's id of this reset. */
  id: string;
  /** The pre-reset snapshot: restoring it whole (POST reset/undo) brings every file back. */
  snapshot_id: string;
  /** Where the clean copy came from: the operator's `reset.template_dir`, or the home as it was at the first start. */
  template: ResetTemplateSource;
  /** The post-reset hook's run; null when none is configured. */
  hook: HookRunSummary | null;
  started_at: string;
  finished_at: string;
  timings: ResetTimings;
}

export type ResetTemplateSource = 'operator' | 'first-start';

/**
 * Where a reset got to, as its journal says. `preparing`: the template is
 * being copied into staging (the home is untouched); `prepared`: the copy is
 * complete and the old entries are being moved aside; `old-moved-aside`: the
 * home holds no old entry and the template's entries are being moved in;
 * `template-in-place`: the home is the clean copy (the post-reset hook runs);
 * `done`.
 */
export const RESET_PHASES = ['preparing', 'prepared', 'old-moved-aside', 'template-in-place', 'done'] as const;
export type ResetPhase = (typeof RESET_PHASES)[number];

/**
 * How a reset ended. `succeeded`; `hook-failed` (the home is reset, the hook
 * failed); `failed` (refused or stopped before the home changed: the home is
 * as it was); `rolled-back` or `finished` (the sidecar stopped in the middle
 * and the next start undid or completed it).
 */
export type ResetOutcome = 'succeeded' | 'hook-failed' | 'failed' | 'rolled-back' | 'finished';

/** The last reset, from its journal. */
export interface ResetRecord {
  id: string;
  phase: ResetPhase;
  outcome: ResetOutcome | null;
  /** Set when a start found this reset unfinished: what it did about it. */
  recovered: 'rolled-back' | 'finished' | null;
  snapshot_id: string | null;
  template: ResetTemplateSource;
  started_at: string;
  finished_at: string | null;
  /** Why it failed, or what recovery found; null when all went well. */
  message: string | null;
  hook_run: string | null;
}

/** GET reset: what a reset would use, whether one runs now, and how the last one ended. */
export interface ResetStatusResponse {
  template: ResetTemplateSource;
  /** Whether an operator post-reset hook runs after the swap. */
  post_reset_hook: boolean;
  /** Whether a reset can start now (snapshots work, no reset, switch or restart under way); `reason` says why not. */
  available: boolean;
  reason: string | null;
  /** The phase of the reset under way ("snapshot", "stopping", … "starting"), or null. */
  running: ResetStep | null;
  last: ResetRecord | null;
}

/** The steps a reset under way goes through, for the page's progress line. */
export type ResetStep = 'snapshot' | 'preparing' | 'stopping' | 'swapping' | 'hook' | 'starting' | 'undoing';

/** POST reset/undo: restores the pre-reset snapshot whole. */
export interface ResetUndoRequest {
  snapshot_id: string;
}

/** 200 to POST reset/undo: the home holds the pre-reset snapshot again; `undo_snapshot` holds the reset home. */
export interface ResetUndoResponse {
  snapshot_id: string;
  undo_snapshot: string;
}

/** SSE event `hook`: a hook run started (chunk ''), wrote `chunk` at `offset` of its output, or ended (chunk '', `run.state` says how). */
export interface HookEvent {
  run: HookRunSummary;
  chunk: string;
  offset: number;
}
