/**
 * Shared by the GPU test files: a fake nvidia-smi to point the sidecar at,
 * the GPU and quota parts of the API, and a way to ask a kernel what
 * CUDA_VISIBLE_DEVICES it was started with.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ErrorBody, GpuStatus, GpuSwitchAccepted, QuotaStatus, UsageResponse } from '@jupyterlab-gpu-workspace/api';
import { fetchJson, JsonResponse, RESTART_TIMEOUT_MS, runInNewKernel, Sidecar, SIDECAR_DIR, StatusBody, tokenHeader, waitFor } from './sidecar';

export const FAKE_NVIDIA_SMI = path.join(SIDECAR_DIR, 'test', 'fixtures', 'bin', 'nvidia-smi');

/** A GPU switch restarts Jupyter (its kernels included): slow on a busy 2-core machine. */
export const SWITCH_TIMEOUT_MS = RESTART_TIMEOUT_MS;

export interface FakeGpu {
  dir: string;
  /** What the sidecar's environment needs for the fake nvidia-smi. */
  env: NodeJS.ProcessEnv;
  /** Rewrites devices.csv: one GPU with this utilisation (percent). */
  setUtilization(percent: number): void;
  /** Makes nvidia-smi fail like a broken driver. */
  fail(): void;
  remove(): void;
}

/** A fake GPU state folder with one idle 80 GB GPU, index 0. */
export function makeFakeGpu(utilization = 0): FakeGpu {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-workspace-fake-gpu-'));
  const gpu: FakeGpu = {
    dir,
    env: { FAKE_GPU_STATE_DIR: dir },
    setUtilization: percent => {
      // Write then rename, so nvidia-smi never reads a half-written file.
      const tmp = path.join(dir, 'devices.csv.tmp');
      fs.writeFileSync(tmp, `0, GPU-00000000-1111-2222-3333-444444444444, NVIDIA H100 80GB HBM3, 81559, 1024, ${percent}\n`);
      fs.renameSync(tmp, path.join(dir, 'devices.csv'));
    },
    fail: () => fs.writeFileSync(path.join(dir, 'fail'), ''),
    remove: () => fs.rmSync(dir, { recursive: true, force: true })
  };
  gpu.setUtilization(utilization);
  return gpu;
}

// The wire types are the contract's own: a test that drifted from them would not compile.
export type { ErrorBody, GpuDevice, GpuStatus, QuotaStatus } from '@jupyterlab-gpu-workspace/api';

export type GpuStatusBody = StatusBody;
export type UsageBody = UsageResponse;

export async function gpuStatus(sidecar: Sidecar): Promise<GpuStatusBody> {
  const res = await fetchJson<GpuStatusBody>(sidecar.apiUrl('status'), { headers: tokenHeader(sidecar) });
  if (res.status !== 200) {
    throw new Error(`GET status answered ${res.status}: ${JSON.stringify(res.body)}`);
  }
  return res.body;
}

/** GET status, with the interval (performance.now(), ms) in which the sidecar must have answered. */
export async function timedStatus(sidecar: Sidecar): Promise<{ body: GpuStatusBody; sentMs: number; receivedMs: number }> {
  const sentMs = performance.now();
  const body = await gpuStatus(sidecar);
  return { body, sentMs, receivedMs: performance.now() };
}

/** POST gpu with any body (a string is sent verbatim). */
export function postGpu(
  sidecar: Sidecar,
  body: unknown,
  headers: Record<string, string> = {}
): Promise<JsonResponse<GpuSwitchAccepted & Partial<ErrorBody>>> {
  return fetchJson(sidecar.apiUrl('gpu'), {
    method: 'POST',
    headers: { ...tokenHeader(sidecar), 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000)
  });
}

/** Waits until no switch is under way and Jupyter runs; the status then. */
export function waitForSwitchEnd(sidecar: Sidecar, timeoutMs = SWITCH_TIMEOUT_MS): Promise<GpuStatusBody> {
  return waitFor(
    'the GPU switch to end with Jupyter running',
    async () => {
      const status = await gpuStatus(sidecar);
      return status.gpu.mode !== 'switching' && status.jupyter.state === 'running' ? status : undefined;
    },
    { timeoutMs, intervalMs: 100 }
  );
}

/**
 * POST gpu expecting it to be accepted (202, or 200 when already in that
 * mode), then waits for the switch to end; fails with `last_error` if it failed.
 */
export async function switchGpu(sidecar: Sidecar, enabled: boolean, profile?: string): Promise<{ gpu: GpuStatus; quota: QuotaStatus }> {
  const res = await postGpu(sidecar, profile === undefined ? { enabled } : { enabled, profile });
  if (res.status !== 202 && res.status !== 200) {
    throw new Error(`POST gpu ${JSON.stringify({ enabled, profile })} answered ${res.status}: ${JSON.stringify(res.body)}`);
  }
  const done = await waitForSwitchEnd(sidecar);
  if (done.gpu.last_error) {
    throw new Error(`the GPU switch failed: ${done.gpu.last_error}`);
  }
  return done;
}

export function getUsage(sidecar: Sidecar): Promise<JsonResponse<UsageBody>> {
  return fetchJson<UsageBody>(sidecar.apiUrl('usage'), { headers: tokenHeader(sidecar) });
}

export function postGrant(sidecar: Sidecar, body: unknown, authorization?: string): Promise<JsonResponse<Record<string, unknown>>> {
  return fetchJson(sidecar.apiUrl('quota/grants'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization === undefined ? {} : { authorization }) },
    body: typeof body === 'string' ? body : JSON.stringify(body)
  });
}

/**
 * Starts a new kernel, asks it for CUDA_VISIBLE_DEVICES, and shuts it down.
 * Resolves with the value as Python's repr: "'0'", "''" or "None".
 */
export async function kernelCudaVisibleDevices(sidecar: Sidecar): Promise<string> {
  return (await runInNewKernel(sidecar, "import os; print(repr(os.environ.get('CUDA_VISIBLE_DEVICES')))")).trim();
}

export const sleep = (ms: number): Promise<void> => new Promise(r => setTimeout(r, ms));
