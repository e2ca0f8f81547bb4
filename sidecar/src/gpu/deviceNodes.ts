import * as fs from 'node:fs';
import * as path from 'node:path';

export interface DeviceNode {
  path: string;
  mode: number;
  gid: number;
}

/** The nodes matching the operator's patterns (a trailing "*" matches any ending; nothing else is special). */
export function findDeviceNodes(patterns: string[]): DeviceNode[] {
  const found: DeviceNode[] = [];
  for (const pattern of patterns) {
    const dir = path.dirname(pattern);
    const base = path.basename(pattern);
    const names = base.endsWith('*')
      ? (() => {
          try {
            return fs.readdirSync(dir).filter(n => n.startsWith(base.slice(0, -1)));
          } catch {
            return [];
          }
        })()
      : [base];
    for (const name of names) {
      const file = path.join(dir, name);
      try {
        const st = fs.statSync(file);
        if (!st.isDirectory()) {
          found.push({ path: file, mode: st.mode & 0o777, gid: st.gid });
        }
      } catch {
        // A pattern without a match, or a node that went away.
      }
    }
  }
  return found;
}

export interface CpuModeEnforcement {
  enforced: boolean;
  /** For the operator: why not, and what to do. */
  reason: string | null;
}

/**
 * Whether CPU mode holds by the operating system's permissions, not only by
 * CUDA_VISIBLE_DEVICES: Jupyter must run as the notebook user, without the
 * device group in CPU mode, and no device node may be open to everyone.
 */
export function cpuModeEnforcement(options: {
  isolated: boolean;
  deviceGroup: string | undefined;
  deviceGid: number | null;
  nodes: DeviceNode[];
}): CpuModeEnforcement {
  const { isolated, deviceGroup, deviceGid, nodes } = options;
  if (!nodes.length) {
    return { enforced: true, reason: null };
  }
  const open = nodes.filter(n => (n.mode & 0o006) !== 0);
  if (open.length) {
    const list = open.slice(0, 3).map(n => `${n.path} (mode ${n.mode.toString(8).padStart(3, '0')})`).join(', ');
    return {
      enforced: false,
      reason:
        `GPU device nodes are open to everyone: ${list}. Any process can use the GPU in CPU mode; the watchdog stops ` +
        'workspace processes that do. Give the nodes to a group (mode 0660) and set gpu.device_group.'
    };
  }
  if (!isolated) {
    return {
      enforced: false,
      reason: 'Jupyter runs as the sidecar\'s own user, which may open the GPU device nodes: set jupyter.user (the watchdog still runs).'
    };
  }
  if (deviceGroup === undefined || deviceGid === null) {
    return {
      enforced: false,
      reason: 'gpu.device_group is not set: CPU mode hides the GPU through CUDA_VISIBLE_DEVICES only (the watchdog still runs).'
    };
  }
  const foreign = nodes.filter(n => n.gid !== deviceGid);
  if (foreign.length) {
    return {
      enforced: false,
      reason: `Some GPU device nodes do not belong to gpu.device_group "${deviceGroup}": ${foreign
        .slice(0, 3)
        .map(n => `${n.path} (gid ${n.gid})`)
        .join(', ')}.`
    };
  }
  return { enforced: true, reason: null };
}
