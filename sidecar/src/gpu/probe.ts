import type { GpuDevice } from '@jupyterlab-gpu-workspace/api';
import { execFile } from 'node:child_process';

export interface GpuProbe {
  available: boolean;
  /** Why GPU mode cannot be used, in words a user understands; null when available. */
  reason: string | null;
  devices: GpuDevice[];
}

const QUERY = 'index,uuid,name,memory.total,memory.used,utilization.gpu';

const num = (s: string | undefined): number | null => {
  const n = Number((s ?? '').trim());
  // "[N/A]" on some boards: unknown, which is not the same as 0 (an idle GPU).
  return (s ?? '').trim() !== '' && Number.isFinite(n) ? n : null;
};

/** Parses `nvidia-smi --query-gpu=<QUERY> --format=csv,noheader,nounits`. */
export function parseNvidiaSmi(csv: string): GpuDevice[] {
  return csv
    .split('\n')
    .map(line => line.trim())
    .filter(Boolean)
    .map(line => {
      const [index, uuid, name, total, used, util] = line.split(',').map(f => f.trim());
      return {
        index: num(index) ?? 0,
        uuid,
        name,
        memory_total_mib: num(total) ?? 0,
        memory_used_mib: num(used) ?? 0,
        utilization_percent: num(util)
      };
    })
    .filter(d => d.uuid !== undefined && d.name !== undefined);
}

/**
 * Asks nvidia-smi which GPUs this machine has and how busy they are. The
 * product never invents a GPU: no nvidia-smi, an error, or no device all
 * mean GPU mode is unavailable, with the reason.
 */
export function probeGpus(nvidiaSmi: string, timeoutMs = 10_000): Promise<GpuProbe> {
  return new Promise(resolve => {
    execFile(
      nvidiaSmi,
      [`--query-gpu=${QUERY}`, '--format=csv,noheader,nounits'],
      // SIGKILL: a hanging nvidia-smi (a wedged driver) may ignore SIGTERM.
      { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) {
          const code = (err as NodeJS.ErrnoException).code;
          const reason =
            code === 'ENOENT'
              ? 'This machine has no NVIDIA GPU driver (nvidia-smi was not found).'
              : err.killed
                ? `nvidia-smi did not answer within ${timeoutMs / 1000} s.`
                : `nvidia-smi failed: ${(stderr || stdout || err.message).trim().split('\n')[0]}`;
          resolve({ available: false, reason, devices: [] });
          return;
        }
        const devices = parseNvidiaSmi(stdout);
        resolve(
          devices.length
            ? { available: true, reason: null, devices }
            : { available: false, reason: 'nvidia-smi reports no GPU on this machine.', devices: [] }
        );
      }
    );
  });
}

/** A process holding GPU memory, as nvidia-smi reports it. */
export interface ComputeApp {
  pid: number;
  used_memory_mib: number;
}

/** `nvidia-smi --query-compute-apps=pid,used_memory`: the processes using a GPU right now. */
export function queryComputeApps(nvidiaSmi: string, timeoutMs = 10_000): Promise<ComputeApp[]> {
  return new Promise((resolve, reject) => {
    execFile(
      nvidiaSmi,
      ['--query-compute-apps=pid,used_memory', '--format=csv,noheader,nounits'],
      { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`nvidia-smi failed: ${(stderr || err.message).trim().split('\n')[0]}`));
          return;
        }
        resolve(
          stdout
            .split('\n')
            .map(line => line.split(',').map(f => f.trim()))
            .filter(([pid]) => /^\d+$/.test(pid ?? ''))
            .map(([pid, mem]) => ({ pid: Number(pid), used_memory_mib: Number(mem) || 0 }))
        );
      }
    );
  });
}
