import type { HookRunSummary } from '@jupyterlab-gpu-workspace/api';

/** An operator command to run as the notebook user (post-reset hook, a conversion, a command destination). */
export interface HookSpec {
  /** What it is for, shown in the log panel: "Post-reset hook", "Convert analysis.ipynb to HTML". */
  title: string;
  /** argv; never through a shell. */
  command: string[];
  /** Working folder (usually the home). */
  cwd: string;
  /** Killed (SIGTERM, then SIGKILL) after this long. */
  timeoutMs: number;
  /** Added to the workspace's environment (Jupyter's, as the notebook user sees it). */
  env?: Record<string, string>;
}

export interface HookResult {
  run: HookRunSummary;
  /** Exit code 0 and not timed out. */
  ok: boolean;
  /** The run's output as kept (its last part when long), with ANSI codes. */
  output: string;
}

/**
 * Runs operator hooks under a pseudo-terminal (node-pty), as the notebook
 * user, with a time limit; their output streams to the log panel
 * (GET hooks/runs/{id}). `run` resolves when the hook has ended, whatever
 * its outcome; `hookFailed(result)` turns a failed one into the API error.
 */
export interface HookRunner {
  run(spec: HookSpec): Promise<HookResult>;
}
