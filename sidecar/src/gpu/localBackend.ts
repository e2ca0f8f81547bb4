import type { GpuDevice, GpuProfile } from '@jupyterlab-gpu-workspace/api';

/**
 * The `local` backend's view of a GPU mode: the environment Jupyter (and so
 * every kernel and terminal) starts with. A restart makes it take effect.
 */
export function gpuEnvironment(on: boolean, profile: GpuProfile, devices: GpuDevice[]): Record<string, string> {
  if (!on) {
    // An empty CUDA_VISIBLE_DEVICES hides every GPU from CUDA; "void" is the container runtime's word for none.
    return { CUDA_VISIBLE_DEVICES: '', NVIDIA_VISIBLE_DEVICES: 'void', GPU_WORKSPACE_GPU_MODE: 'off' };
  }
  const visible = profile.devices ?? devices.map(d => String(d.index)).join(',');
  return { CUDA_VISIBLE_DEVICES: visible, NVIDIA_VISIBLE_DEVICES: visible || 'all', GPU_WORKSPACE_GPU_MODE: 'on' };
}
