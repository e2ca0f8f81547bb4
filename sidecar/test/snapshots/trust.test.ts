/**
 * Snapshots across the trust boundary: the sidecar as root, a notebook user
 * who swaps a folder of the home for a link to root's files as fast as it
 * can (support/swap.ts). restic, du and every move into the home run as the
 * user, so nothing outside the home is ever read into a snapshot, listed in
 * the over-cap message, or written by a restore; and while restic runs, the
 * user cannot reach the repository or its password by any name or through
 * /proc. Creates a Unix user (CI runs as root); skipped without root.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { NotebookUser } from '../../src/jupyter/notebookUser';
import { createLogger } from '../../src/log';
import { repoLayout } from '../../src/snapshots/repository';
import { runRestic } from '../../src/snapshots/restic';
import { SnapshotService } from '../../src/snapshots/service';
import { testPolicy } from '../support/snapshots';
import { makeTempDirs, TempDirs } from '../support/sidecar';
import { asUserArgs, notebookUser, startSwapper, treeListing } from '../support/swap';

const skip = process.getuid?.() === 0 ? false : 'needs root to create a notebook user (CI runs as root)';
const quiet = createLogger('error', 'test', () => undefined);
const CANARY = `root-only canary ${process.pid}-${Date.now()}`;
/** How many times each race is run. */
const ROUNDS = 200;


describe('snapshots when the notebook user attacks the home', { skip }, () => {
  let dirs: TempDirs;
  let user: NotebookUser;
  /** A folder only root may enter, holding a 0600 file only root may read. */
  let rootOnly: string;
  let rootOnlyBefore: string[];
  let service: SnapshotService;
  const logs: Array<{ msg: string; skipped?: string[] }> = [];

  /**
   * Makes home/NAME a folder of the user's holding inner/own.txt, and home/NAME-link a link to the root-only
   * folder, which holds an inner/ too: a program that checks only the last component of a path (restic opens
   * with O_NOFOLLOW) is led into root's inner/ when NAME is swapped while it works below it.
   */
  function pair(name: string): [string, string] {
    const dir = path.join(dirs.home, name);
    fs.mkdirSync(path.join(dir, 'inner'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'inner', 'own.txt'), `${name}\n`);
    execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, dir]);
    const link = `${dir}-link`;
    fs.rmSync(link, { force: true });
    fs.symlinkSync(rootOnly, link);
    fs.lchownSync(link, user.uid, user.gid);
    return [dir, link];
  }

  before(async () => {
    user = notebookUser();
    dirs = makeTempDirs();
    fs.chmodSync(dirs.root, 0o755);
    fs.chownSync(dirs.home, user.uid, user.gid);
    rootOnly = path.join(dirs.root, 'root-only');
    fs.mkdirSync(path.join(rootOnly, 'inner'), { recursive: true, mode: 0o700 });
    fs.chmodSync(rootOnly, 0o700);
    fs.writeFileSync(path.join(rootOnly, 'canary.txt'), CANARY, { mode: 0o600 });
    fs.writeFileSync(path.join(rootOnly, 'inner', 'canary-inner.txt'), CANARY, { mode: 0o600 });
    fs.writeFileSync(path.join(rootOnly, 'inner', 'canary-big.bin'), '');
    // Large on paper (sparse): it would top the over-cap list if du ever measured it.
    fs.truncateSync(path.join(rootOnly, 'inner', 'canary-big.bin'), 500_000_000);
    rootOnlyBefore = treeListing(rootOnly);
    fs.mkdirSync(path.join(dirs.stateDir, 'secrets'), { recursive: true, mode: 0o700 });
    const log = createLogger('warn', 'test', line => logs.push(JSON.parse(line) as { msg: string; skipped?: string[] }));
    service = new SnapshotService({ home: dirs.home, stateDir: dirs.stateDir, policy: testPolicy(), runAs: { user, deviceGid: null }, log });
    await service.init();
    assert.equal(service.reason, null);
  });

  after(() => {
    service?.stop();
    dirs?.remove();
  });

  /** Nothing in the root-only folder was added, changed or removed. */
  function rootOnlyUntouched(): void {
    assert.deepEqual(treeListing(rootOnly), rootOnlyBefore);
  }

  test('the repository and its cache belong to the user, inside a root-only state directory the user cannot enter', () => {
    const repo = repoLayout(dirs.stateDir);
    assert.equal(fs.statSync(dirs.stateDir).mode & 0o077, 0, 'the state directory is root\'s alone');
    for (const area of [repo.root, repo.stagingDir]) {
      assert.equal(fs.statSync(area).mode & 0o777, 0o711, area);
      assert.equal(fs.statSync(area).uid, 0, area);
    }
    assert.ok(!repo.stagingDir.startsWith(repo.root + path.sep), 'the staging area is not beside the repository');
    for (const dir of [repo.repository, repo.cacheDir]) {
      assert.equal(fs.statSync(dir).uid, user.uid, dir);
    }
    assert.equal(fs.statSync(repo.passwordFile).uid, 0);
    assert.equal(fs.statSync(repo.passwordFile).mode & 0o777, 0o600);
  });

  test(`a single-file restore never writes outside the home, ${ROUNDS} times while a parent folder is swapped for a link`, async () => {
    const [dir, link] = pair('work');
    fs.writeFileSync(path.join(dir, 'result.txt'), 'result v1\n');
    fs.chownSync(path.join(dir, 'result.txt'), user.uid, user.gid);
    const snap = await service.create('manual');
    // As restic leaves a restore: in a folder of the user's in the staging area.
    const staging = fs.mkdtempSync(path.join(repoLayout(dirs.stateDir).stagingDir, 'r-test-'));
    fs.chownSync(staging, user.uid, user.gid);
    const swapper = await startSwapper(user, [[dir, link]]);
    let placed = 0;
    let refused = 0;
    try {
      // The step that touches the home, on its own: a staged file (as restic, run as the user, leaves one) put in place.
      for (let i = 0; i < ROUNDS; i++) {
        const staged = path.join(staging, `round-${i}.txt`);
        fs.writeFileSync(staged, `round ${i}\n`);
        fs.chownSync(staged, user.uid, user.gid);
        try {
          await service.restores.place(staged, `work/deep/restored-${i}.txt`);
          placed++;
        } catch {
          // Refused (the folder was a link at that moment) or denied: both leave root's files alone.
          refused++;
          fs.rmSync(staged, { force: true });
        }
      }
      // And a few whole restores of one file through the same race.
      for (let i = 0; i < 3; i++) {
        await service.restore(snap.id, 'work/result.txt').catch(() => undefined);
      }
    } finally {
      const swaps = await swapper.stop();
      assert.ok(swaps > ROUNDS, `the loop swapped ${swaps} times`);
    }
    rootOnlyUntouched();
    assert.ok(placed > 0, `placed ${placed}, refused ${refused}`);
    assert.equal(fs.readdirSync(staging).length, 0, 'every staged file was placed or removed');
    fs.rmdirSync(staging);
    assert.deepEqual(fs.readdirSync(repoLayout(dirs.stateDir).stagingDir), [], 'the restores left no staging behind');
  });

  test(`no snapshot holds a root-only file, ${ROUNDS} folders swapped for a link as a backup opens them`, async () => {
    const pairs: Array<[string, string]> = [];
    for (let i = 0; i < 20; i++) {
      pairs.push(pair(`d${i}`));
    }
    const swapper = await startSwapper(user, pairs, 'on-open');
    const ids: string[] = [];
    try {
      // 10 snapshots × 20 swapped folders: each folder is read once per snapshot, 200 chances to follow a link.
      for (let i = 0; i < ROUNDS / pairs.length; i++) {
        ids.push((await service.create('manual')).id);
      }
    } finally {
      await swapper.stop();
    }
    // The test reads the repository as root: it looks for root's files in every snapshot.
    const { messages } = await runRestic(repoLayout(dirs.stateDir), ['find', '--host', 'gpu-workspace', 'canary*'], { keepMessages: true });
    const found = ((messages[0] ?? []) as Array<{ matches?: unknown[] }>).flatMap(m => m.matches ?? []);
    assert.deepEqual(found, [], 'a snapshot holds a file from the root-only folder');
    assert.equal(ids.length, ROUNDS / pairs.length);
    for (const p of pairs.flat()) {
      // Either name may be the folder now.
      fs.rmSync(p, { recursive: true, force: true });
    }
  });

  test(`the home's measurement never counts or names what is outside the home, ${ROUNDS} scans while a folder is swapped for a link as it is opened`, async () => {
    const pairs = [pair('big')];
    const swapper = await startSwapper(user, pairs, 'on-open');
    try {
      for (let i = 0; i < ROUNDS; i++) {
        const scan = await service.scan();
        assert.ok(scan.used_bytes < 100_000_000, `the home measured ${scan.used_bytes} bytes`);
        for (const entry of scan.largest) {
          assert.doesNotMatch(entry.path, /canary/, 'the over-cap list names a root-only file');
        }
      }
    } finally {
      await swapper.stop();
    }
    for (const p of pairs.flat()) {
      fs.rmSync(p, { recursive: true, force: true });
    }
  });

  test('while restic runs, the user can reach neither the repository nor its password, by name or through /proc', async () => {
    const bulk = path.join(dirs.home, 'bulk.bin');
    execFileSync('dd', ['if=/dev/urandom', `of=${bulk}`, 'bs=1M', 'count=200', 'status=none']);
    fs.chownSync(bulk, user.uid, user.gid);
    const repo = repoLayout(dirs.stateDir);
    const pending = service.create('manual');
    let pid: number | null = null;
    try {
      pid = await resticRunningIn(repo.root);
      // Held still while it is probed, so that the probe never races restic's end.
      process.kill(pid, 'SIGSTOP');
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      assert.match(status, new RegExp(`^Uid:\\s+65534\\s+${user.uid}\\s+${user.uid}\\s+${user.uid}$`, 'm'), 'restic runs with the user\'s file access and another real uid');
      const environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8');
      assert.doesNotMatch(environ, /RESTIC_PASSWORD/);
      assert.ok(!environ.includes(fs.readFileSync(repo.passwordFile, 'utf8').trim()), 'the password is not in restic\'s environment');
      const probe = `
import ctypes, os, sys
pid = sys.argv[1]
tries = {
  'cwd link': lambda: os.readlink(f'/proc/{pid}/cwd'),
  'cwd listing': lambda: os.listdir(f'/proc/{pid}/cwd'),
  'repository through cwd': lambda: os.listdir(f'/proc/{pid}/cwd/repo'),
  'environ': lambda: open(f'/proc/{pid}/environ', 'rb').read(),
  'fd listing': lambda: os.listdir(f'/proc/{pid}/fd'),
  'stdin (the password pipe)': lambda: open(f'/proc/{pid}/fd/0', 'rb').read(1),
  'memory': lambda: open(f'/proc/{pid}/mem', 'rb').read(1),
  'root link': lambda: os.listdir(f'/proc/{pid}/root/'),
  'repository by name': lambda: os.listdir(sys.argv[2]),
  'password by name': lambda: open(sys.argv[3]).read(),
}
libc = ctypes.CDLL(None, use_errno=True)
def ptrace():
    if libc.ptrace(16, int(pid), None, None) != 0:
        raise PermissionError(ctypes.get_errno())
tries['ptrace'] = ptrace
for name, t in tries.items():
    try:
        t()
        print(f'{name}: READ')
    except Exception as e:
        print(f'{name}: {type(e).__name__}')
`;
      const [file, args] = asUserArgs(user, ['/usr/bin/python3', '-c', probe, String(pid), repo.repository, repo.passwordFile]);
      const out = spawnSync(file, args, { encoding: 'utf8' });
      assert.equal(out.status, 0, out.stderr);
      const lines = out.stdout.trim().split('\n');
      assert.equal(lines.length, 11, out.stdout);
      for (const line of lines) {
        assert.doesNotMatch(line, /READ$/, line);
      }
    } finally {
      if (pid !== null) {
        process.kill(pid, 'SIGCONT');
      }
      await pending.catch(() => undefined);
      fs.rmSync(bulk);
    }
  });

  test('a process that kept a folder open while a whole restore moved it aside cannot climb from it to the repository', async () => {
    const kept = path.join(dirs.home, 'kept-open');
    fs.mkdirSync(kept);
    fs.writeFileSync(path.join(kept, 'a.txt'), 'a\n');
    execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, kept]);
    const snap = await service.create('manual');
    const repo = repoLayout(dirs.stateDir);
    // Sits in kept-open/; the moment it is moved (into the restore's staging), climbs with ".." and looks around.
    const probe = `
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(0)
libc.inotify_add_watch(fd, b'.', 0x800)
print('ready', flush=True)
os.read(fd, 4096)
found = []
for k in range(1, 8):
    up = '../' * k
    for rel in ['', 'repo', 'snapshots/repo', 'secrets/restic-password', 'snapshots/cache']:
        try:
            if rel.endswith('password'):
                open(up + rel).read()
            else:
                found.append((up + rel, sorted(os.listdir(up + rel))))
        except OSError:
            pass
print(repr(found), flush=True)
`;
    const [file, args] = asUserArgs(user, ['/usr/bin/python3', '-c', probe]);
    const child = spawn(file, args, { cwd: kept, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    const done = new Promise<string>(resolve => child.once('close', () => resolve(out)));
    await new Promise<void>(resolve => child.stdout.on('data', (d: string) => ((out += d), out.startsWith('ready') && resolve())));
    try {
      await service.restoreHome(snap.id);
    } finally {
      // It reports as soon as it was moved; a probe never moved must not hold the test.
      setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
    }
    const seen = (await done).replace('ready\n', '').trim();
    // It did climb into the staging (the folder the old entries were moved into)…
    assert.match(seen, /'kept-open'/, seen);
    // …and saw nothing of the repository, its cache or the password.
    for (const name of ['config', 'keys', 'data', 'restic-password']) {
      assert.doesNotMatch(seen, new RegExp(`'${name}'`), seen);
    }
    assert.ok(!seen.includes(path.basename(repo.repository) + "'"), seen);
  });

  test('restic run as the user stops, and drops its lock, when the sidecar dies (through the guardian: the kernel clears its own parent-death signal)', async () => {
    const bulk = path.join(dirs.home, 'bulk-for-death.bin');
    execFileSync('dd', ['if=/dev/urandom', `of=${bulk}`, 'bs=1M', 'count=200', 'status=none']);
    fs.chownSync(bulk, user.uid, user.gid);
    const repo = repoLayout(dirs.stateDir);
    // A stand-in for the sidecar: a node process that starts a backup through the helper launcher, as the user.
    const script = `
      const { runRestic } = require(${JSON.stringify(path.resolve(__dirname, '../../src/snapshots/restic.ts'))});
      const { repoLayout } = require(${JSON.stringify(path.resolve(__dirname, '../../src/snapshots/repository.ts'))});
      const repo = repoLayout(${JSON.stringify(dirs.stateDir)}, 'restic', { user: ${JSON.stringify(user)}, deviceGid: null });
      runRestic(repo, ['backup', '--host', 'gpu-workspace', ${JSON.stringify(dirs.home)}]).catch(() => undefined);
    `;
    const count = async (): Promise<number> => ((await runRestic(repo, ['snapshots'], { keepMessages: true })).messages[0] as unknown[]).length;
    const before = await count();
    const sidecar = spawn(process.execPath, ['--import', 'tsx', '-e', script], { stdio: 'ignore' });
    try {
      const pid = await resticRunningIn(repo.root);
      sidecar.kill('SIGKILL');
      const deadline = Date.now() + 30_000;
      while (fs.existsSync(`/proc/${pid}`) && Date.now() < deadline) {
        await new Promise(r => setTimeout(r, 50));
      }
      assert.ok(!fs.existsSync(`/proc/${pid}`), 'restic outlived the sidecar');
      assert.deepEqual(fs.readdirSync(path.join(repo.repository, 'locks')), [], 'restic left its lock');
      assert.equal(await count(), before, 'restic went on and finished its snapshot after the sidecar died');
    } finally {
      sidecar.kill('SIGKILL');
      fs.rmSync(bulk);
    }
  });

  test('files the user cannot read are left out of a snapshot, which is kept, and the log names them', async () => {
    fs.writeFileSync(path.join(dirs.home, 'operator-secret.txt'), CANARY, { mode: 0o600 });
    logs.length = 0;
    const snap = await service.create('manual');
    assert.ok(snap.id);
    const names = (await service.files(snap.id, '')).map(e => e.name);
    assert.ok(!names.includes('operator-secret.txt'), names.join(', '));
    const warning = logs.find(l => /was saved without 1 entry that could not be read as gpuws-notebook/.test(l.msg));
    assert.ok(warning, JSON.stringify(logs));
    assert.deepEqual(warning.skipped, ['operator-secret.txt']);
    fs.rmSync(path.join(dirs.home, 'operator-secret.txt'));
  });

  test('after every attack, the root-only folder is exactly as it was', () => {
    rootOnlyUntouched();
  });
});

/** The pid of the restic running in `workDir` (its working folder), once it is there. */
async function resticRunningIn(workDir: string): Promise<number> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    for (const pid of fs.readdirSync('/proc').filter(n => /^\d+$/.test(n))) {
      try {
        if (fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'restic' && fs.readlinkSync(`/proc/${pid}/cwd`) === workDir) {
          const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
          if (cmdline.includes('backup')) {
            return Number(pid);
          }
        }
      } catch {
        // Gone meanwhile.
      }
    }
    await new Promise(r => setTimeout(r, 10));
  }
  throw new Error('restic backup was not seen running');
}

describe('a repository made by root before the workspace had a notebook user', { skip }, () => {
  let dirs: TempDirs;

  before(() => {
    dirs = makeTempDirs();
    fs.chmodSync(dirs.root, 0o755);
    fs.mkdirSync(path.join(dirs.stateDir, 'secrets'), { recursive: true, mode: 0o700 });
  });

  after(() => dirs.remove());

  test('is handed to the user at start, and its snapshots can still be listed and restored', async () => {
    const user = notebookUser();
    fs.writeFileSync(path.join(dirs.home, 'old.txt'), 'from before\n');
    const asRoot = new SnapshotService({ home: dirs.home, stateDir: dirs.stateDir, policy: testPolicy(), runAs: null, log: quiet });
    await asRoot.init();
    const old = await asRoot.create('manual');
    asRoot.stop();
    const repo = repoLayout(dirs.stateDir);
    assert.equal(fs.statSync(path.join(repo.repository, 'config')).uid, 0);

    fs.chownSync(dirs.home, user.uid, user.gid);
    fs.chownSync(path.join(dirs.home, 'old.txt'), user.uid, user.gid);
    const s = new SnapshotService({ home: dirs.home, stateDir: dirs.stateDir, policy: testPolicy(), runAs: { user, deviceGid: null }, log: quiet });
    await s.init();
    try {
      assert.equal(s.reason, null);
      const notTheUsers = execFileSync('find', [repo.repository, repo.cacheDir, '!', '-user', String(user.uid)], { encoding: 'utf8' }).trim();
      assert.equal(notTheUsers, '', 'every file of the repository and cache is the user\'s');
      assert.ok((await s.list()).some(l => l.id === old.id));
      fs.rmSync(path.join(dirs.home, 'old.txt'));
      assert.deepEqual(await s.restore(old.id, 'old.txt'), { restored_to: 'old.txt' });
      assert.equal(fs.readFileSync(path.join(dirs.home, 'old.txt'), 'utf8'), 'from before\n');
      assert.equal(fs.statSync(path.join(dirs.home, 'old.txt')).uid, user.uid);
      assert.ok((await s.create('manual')).id);
    } finally {
      s.stop();
    }
  });
});
