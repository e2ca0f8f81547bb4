import type { NotebookUser } from './notebookUser';

export const SETPRIV = '/usr/bin/setpriv';

/** Who Jupyter runs as, and which group opens the GPU device nodes. */
export interface RunAs {
  user: NotebookUser;
  /** The GPU device nodes' group; given to Jupyter only in GPU mode. */
  deviceGid: number | null;
}

export interface Launch {
  file: string;
  argv: string[];
}

/**
 * Supplementary groups for Jupyter: the user's own, with the GPU device group
 * added in GPU mode and taken away in CPU mode (even when the user is a
 * member of it in /etc/group).
 */
export function launchGroups(runAs: RunAs, gpuDevices: boolean): number[] {
  const groups = new Set(runAs.user.groups);
  if (runAs.deviceGid !== null) {
    if (gpuDevices) {
      groups.add(runAs.deviceGid);
    } else {
      groups.delete(runAs.deviceGid);
    }
  }
  groups.delete(runAs.user.gid);
  return [...groups].sort((a, b) => a - b);
}

/**
 * The command line that starts Jupyter: through setpriv, so that Jupyter gets
 * SIGTERM when the sidecar dies (even by SIGKILL), and, with a notebook user,
 * so that it runs as that user with exactly the groups its mode allows and a
 * sane umask. setpriv sets the parent-death signal after changing identity,
 * which would otherwise clear it.
 */
export function launchCommand(program: string, args: string[], runAs: RunAs | null, gpuDevices: boolean, haveSetpriv: boolean): Launch {
  if (!haveSetpriv) {
    return { file: program, argv: args };
  }
  if (!runAs) {
    return { file: SETPRIV, argv: ['--pdeathsig', 'SIGTERM', '--', program, ...args] };
  }
  const groups = launchGroups(runAs, gpuDevices);
  return {
    file: SETPRIV,
    argv: [
      `--reuid=${runAs.user.uid}`,
      `--regid=${runAs.user.gid}`,
      groups.length ? `--groups=${groups.join(',')}` : '--clear-groups',
      '--pdeathsig',
      'SIGTERM',
      '--',
      '/bin/sh',
      '-c',
      // The user's files get the usual 644/755, whatever the sidecar's own umask is.
      'umask 022 && exec "$0" "$@"',
      program,
      ...args
    ]
  };
}

/** The environment a notebook user's session expects. */
export function userEnvironment(user: NotebookUser, home: string): Record<string, string> {
  return { HOME: home, USER: user.name, LOGNAME: user.name, SHELL: user.shell };
}
