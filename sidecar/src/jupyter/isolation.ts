import type { IsolationStatus } from '@jupyterlab-gpu-workspace/api';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { StartupError } from '../errors';
import { SETPRIV, RunAs } from './launch';
import { lookupGroup, lookupUser, prepareHome } from './notebookUser';

export interface IsolationSetup {
  /** Who Jupyter runs as; null: the sidecar's own user. */
  runAs: RunAs | null;
  /** The containment (jupyter/containment.ts) is chosen after this, and completes the status. */
  status: Omit<IsolationStatus, 'containment'>;
}

function currentUserName(): string {
  try {
    return os.userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

/**
 * Decides who Jupyter runs as, and says plainly when notebook code is not
 * kept away from the sidecar. With `jupyter.user` the sidecar must be root;
 * the user must exist and the home folder must be (or become) theirs.
 */
export function setUpIsolation(options: { user: string | undefined; deviceGroup: string | undefined; home: string }): IsolationSetup {
  const { user, deviceGroup, home } = options;
  const uid = process.getuid?.() ?? -1;
  if (user === undefined) {
    fs.mkdirSync(home, { recursive: true });
    const me = currentUserName();
    return {
      runAs: null,
      status: {
        user: me,
        enforced: false,
        reason:
          uid === 0
            ? 'jupyter.user is not set, so Jupyter and every kernel run as root, like the sidecar: notebook code can read its secrets and write the GPU-hours ledger. Set jupyter.user (e.g. "jovyan").'
            : `The sidecar does not run as root, so Jupyter and every kernel run as its own user (${me}): notebook code can read its secrets and write the GPU-hours ledger. Run the sidecar as root with jupyter.user set.`
      }
    };
  }
  if (uid !== 0) {
    throw new StartupError(
      `jupyter.user is "${user}", but the sidecar runs as ${currentUserName()} (uid ${uid}), not root: only root can start Jupyter as another user. ` +
        'Start the sidecar as root (as docker-stacks\' start script does), or remove jupyter.user from the config.'
    );
  }
  if (!fs.existsSync(SETPRIV)) {
    throw new StartupError(`jupyter.user needs ${SETPRIV} (util-linux) to start Jupyter as "${user}". Install util-linux.`);
  }
  const account = lookupUser(user);
  if (account.uid === 0) {
    throw new StartupError(`jupyter.user "${user}" is root (uid 0): that separates nothing. Name an ordinary user such as "jovyan".`);
  }
  prepareHome(home, account);
  const deviceGid = deviceGroup === undefined ? null : lookupGroup(deviceGroup, 'gpu.device_group');
  return { runAs: { user: account, deviceGid }, status: { user: account.name, enforced: true, reason: null } };
}
