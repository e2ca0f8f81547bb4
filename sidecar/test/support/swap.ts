/**
 * The attack the trust-boundary tests repeat: a process of the notebook user
 * that swaps a folder and a symbolic link back and forth, atomically
 * (renameat2 with RENAME_EXCHANGE), as fast as it can, so that whatever
 * resolves the folder's path by name is sometimes led through the link.
 * Also: the notebook user's account (created once, kept for later runs) and
 * a listing of a tree that shows anything added, changed or removed.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { lookupUser, NotebookUser } from '../../src/jupyter/notebookUser';

export const NOTEBOOK_USER = 'gpuws-notebook';

/** The notebook user of these tests (useradd once; left for later runs, as useradd is slow). */
export function notebookUser(): NotebookUser {
  try {
    execFileSync('getent', ['passwd', NOTEBOOK_USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--no-create-home', '--shell', '/bin/bash', NOTEBOOK_USER]);
  }
  return lookupUser(NOTEBOOK_USER);
}

/** Runs a program as the notebook user, the way the user's own processes run (real and effective ids theirs). */
export function asUserArgs(user: NotebookUser, argv: string[]): [string, string[]] {
  return ['/usr/bin/setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--', ...argv]];
}

const SWAPPER = `
import ctypes, os, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
SYS_renameat2, AT_FDCWD, RENAME_EXCHANGE = 316, -100, 2
args = [a.encode() for a in sys.argv[1:]]
pairs = list(zip(args[0::2], args[1::2]))
swaps = 0
def done(*_):
    sys.stdout.write(str(swaps))
    sys.stdout.flush()
    os._exit(0)
signal.signal(signal.SIGTERM, done)
sys.stdout.write('ready\\n')
sys.stdout.flush()
while True:
    for a, b in pairs:
        if libc.syscall(SYS_renameat2, ctypes.c_long(AT_FDCWD), a, ctypes.c_long(AT_FDCWD), b, ctypes.c_long(RENAME_EXCHANGE)) == 0:
            swaps += 1
`;

export interface Swapper {
  /** Stops the loop; resolves with how many swaps it made. */
  stop(): Promise<number>;
}

/**
 * Starts the swap loop as the notebook user over `pairs` (each a folder and a
 * link beside it; missing ones are skipped until they exist again).
 */
export async function startSwapper(user: NotebookUser, pairs: Array<[string, string]>): Promise<Swapper> {
  const [file, args] = asUserArgs(user, ['/usr/bin/python3', '-c', SWAPPER, ...pairs.flat()]);
  const child: ChildProcess = spawn(file, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout?.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: string) => {
      out += d;
      if (out.includes('ready\n')) {
        resolve();
      }
    });
    child.once('exit', code => reject(new Error(`the swap loop ended at once (exit ${code})`)));
  });
  return {
    stop: () =>
      new Promise<number>(resolve => {
        child.once('close', () => resolve(Number(out.replace('ready\n', '')) || 0));
        child.kill('SIGTERM');
      })
  };
}

/** Every entry under `root` with its type, size and mode (links with their target): equal listings mean nothing changed. */
export function treeListing(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of fs.readdirSync(dir).sort()) {
      const abs = path.join(dir, name);
      const st = fs.lstatSync(abs);
      const rel = path.relative(root, abs);
      if (st.isSymbolicLink()) {
        out.push(`${rel} -> ${fs.readlinkSync(abs)}`);
      } else if (st.isDirectory()) {
        out.push(`${rel}/ ${(st.mode & 0o7777).toString(8)} ${st.uid}`);
        walk(abs);
      } else {
        out.push(`${rel} ${st.size} ${(st.mode & 0o7777).toString(8)} ${st.uid} ${st.mtimeMs}`);
      }
    }
  };
  walk(root);
  return out;
}
