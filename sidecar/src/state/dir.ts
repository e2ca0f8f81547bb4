import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StartupError } from '../errors';
import { makePrivateDir } from './privateDir';

/** Longest path a Unix socket may have on Linux (sun_path is 108 bytes with the NUL). */
const MAX_SOCKET_PATH = 107;

export interface StateLayout {
  root: string;
  secretsDir: string;
  cookieSecretFile: string;
  tokenFile: string;
  /** The key the sidecar signs browser logins with; never given to Jupyter. */
  sessionKeyFile: string;
  socketPath: string;
}

/**
 * The state directory holds what the user must not edit: secrets, the
 * socket, later the ledger and snapshots. It is created 0700.
 */
export function prepareStateDir(root: string): StateLayout {
  const abs = path.resolve(root);
  try {
    fs.mkdirSync(abs, { recursive: true, mode: 0o700 });
    fs.mkdirSync(path.join(abs, 'secrets'), { recursive: true, mode: 0o700 });
    fs.mkdirSync(path.join(abs, 'run'), { recursive: true, mode: 0o700 });
    fs.accessSync(abs, fs.constants.W_OK);
  } catch (err) {
    throw new StartupError(`Cannot use state directory ${abs}: ${(err as Error).message}`);
  }
  let socketPath = path.join(abs, 'run', 'jupyter.sock');
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
    // Deep state directories exceed the socket path limit; use a fresh private folder under /tmp instead.
    socketPath = path.join(makePrivateDir('gpu-workspace-run-'), 'jupyter.sock');
  }
  return {
    root: abs,
    secretsDir: path.join(abs, 'secrets'),
    cookieSecretFile: path.join(abs, 'secrets', 'jupyter_cookie_secret'),
    tokenFile: path.join(abs, 'secrets', 'token'),
    sessionKeyFile: path.join(abs, 'secrets', 'session_key'),
    socketPath
  };
}

/** Reads a secret, creating it (random, 0600) on first use, so logins survive restarts. */
export function ensureSecret(file: string, bytes = 32): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    const value = randomBytes(bytes).toString('hex');
    fs.writeFileSync(file, value + '\n', { mode: 0o600, flag: 'wx' });
    return value;
  }
}
