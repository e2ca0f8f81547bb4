/**
 * The attack the trust-boundary tests repeat: a process of the notebook user
 * that swaps a folder and a symbolic link, atomically (renameat2 with
 * RENAME_EXCHANGE), as fast as it can or the moment the folder is opened,
 * so that whatever resolves the folder's path by name is led through the link.
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
import ctypes, os, select, signal, stat, struct, sys, time
libc = ctypes.CDLL(None, use_errno=True)
SYS_renameat2, AT_FDCWD, RENAME_EXCHANGE = 316, -100, 2
IN_OPEN, IN_IGNORED = 0x20, 0x8000
mode = sys.argv[1]
args = [a.encode() for a in sys.argv[2:]]
pairs = list(zip(args[0::2], args[1::2]))
swaps = 0
def swap(a, b):
    global swaps
    if libc.syscall(SYS_renameat2, ctypes.c_long(AT_FDCWD), a, ctypes.c_long(AT_FDCWD), b, ctypes.c_long(RENAME_EXCHANGE)) == 0:
        swaps += 1
        return True
    return False
def done(*_):
    sys.stdout.write(str(swaps))
    sys.stdout.flush()
    os._exit(0)
signal.signal(signal.SIGTERM, done)
sys.stdout.write('ready\\n')
sys.stdout.flush()
if mode == 'loop':
    while True:
        for a, b in pairs:
            swap(a, b)
# on-open: the moment the folder is opened (to be listed), its name is made the link for 2 ms, then put back.
# "pause" / "go" on stdin stop and start it (answered "paused" / "going"), while the test sets up the next tree.
fd = libc.inotify_init1(0)
watched = {}
paused = False
while True:
    ready = select.select([fd, sys.stdin], [], [], 0.001)[0]
    if sys.stdin in ready:
        command = sys.stdin.readline().strip()
        paused = command == 'pause'
        sys.stdout.write('paused\\n' if paused else 'going\\n')
        sys.stdout.flush()
        continue
    if paused:
        if fd in ready:
            os.read(fd, 65536)
        continue
    for i, (a, b) in enumerate(pairs):
        if i not in watched.values():
            try:
                if stat.S_ISDIR(os.lstat(a).st_mode):
                    wd = libc.inotify_add_watch(fd, a, IN_OPEN)
                    if wd >= 0:
                        watched[wd] = i
            except OSError:
                pass
    if fd not in ready:
        continue
    buf = os.read(fd, 65536)
    opened = set()
    off = 0
    while off < len(buf):
        wd, mask, cookie, length = struct.unpack_from('iIII', buf, off)
        off += 16 + length
        if mask & IN_IGNORED:
            watched.pop(wd, None)
        elif wd in watched and length == 0:
            # The folder itself was opened (events for the files in it carry their name).
            opened.add(watched[wd])
    for i in opened:
        a, b = pairs[i]
        if swap(a, b):
            time.sleep(0.002)
            swap(a, b)
`;

export interface Swapper {
  /** Stops the loop; resolves with how many swaps it made. */
  stop(): Promise<number>;
  /** `on-open` only: stops swapping (while the test makes a fresh tree: making it opens the folder too), and starts again. */
  pause(): Promise<void>;
  resume(): Promise<void>;
}

/**
 * Starts the swap loop as the notebook user over `pairs` (each a folder and a
 * link beside it; missing ones are skipped until they exist again). `loop`
 * swaps each pair back and forth without pause; `on-open` waits until the
 * folder is opened (inotify: a program about to list it) and then makes its
 * name the link for 2 ms, the timing that leads a program which walks by
 * name and checks only the last component (restic, a recursive delete) into
 * the link's target.
 */
export async function startSwapper(user: NotebookUser, pairs: Array<[string, string]>, mode: 'loop' | 'on-open' = 'loop'): Promise<Swapper> {
  const [file, args] = asUserArgs(user, ['/usr/bin/python3', '-c', SWAPPER, mode, ...pairs.flat()]);
  const child: ChildProcess = spawn(file, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  let waiting: { word: string; resolve: () => void } | null = null;
  child.stdout?.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: string) => {
      out += d;
      if (out.includes('ready\n')) {
        resolve();
      }
      if (waiting && out.includes(`${waiting.word}\n`)) {
        out = out.replace(`${waiting.word}\n`, '');
        const { resolve: done } = waiting;
        waiting = null;
        done();
      }
    });
    child.once('exit', code => reject(new Error(`the swap loop ended at once (exit ${code})`)));
  });
  const ask = (command: string, word: string): Promise<void> =>
    new Promise(resolve => {
      waiting = { word, resolve };
      child.stdin?.write(`${command}\n`);
    });
  return {
    pause: () => ask('pause', 'paused'),
    resume: () => ask('go', 'going'),
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
