/**
 * Reset Data across the trust boundary: with `jupyter.user` set and the
 * sidecar running as root, the clean copy belongs to the notebook user
 * whoever owns the template, the post-reset hook runs as that user, and a
 * link the user planted in the home leads no root write elsewhere. Creates a
 * Unix user (CI runs as root); skipped without root, saying why.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ResetResponse } from '@jupyterlab-gpu-workspace/api';
import { makeTempDirs, Sidecar, startSidecar, TempDirs } from '../support/sidecar';
import { courseHome, listing, post, write } from './support';

const USER = 'gpuws-notebook';
const skip = process.getuid?.() === 0 ? false : 'needs root to create a notebook user (CI runs as root)';

function ensureUser(): { uid: number; gid: number } {
  try {
    execFileSync('getent', ['passwd', USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--no-create-home', '--shell', '/bin/bash', USER]);
  }
  const id = (flag: string): number => Number(execFileSync('id', [flag, USER], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

describe('Reset Data for a notebook user who is not the sidecar', { skip }, () => {
  let dirs: TempDirs;
  let sidecar: Sidecar;
  let account: { uid: number; gid: number };
  let template: string;
  let outside: string;

  before(async () => {
    account = ensureUser();
    dirs = makeTempDirs();
    fs.chmodSync(dirs.root, 0o755);
    // The operator's template, written by root as an operator's files are.
    template = path.join(dirs.root, 'template');
    courseHome(template);
    fs.chmodSync(path.join(template, 'data'), 0o700);
    outside = path.join(dirs.root, 'outside');
    fs.mkdirSync(outside, { mode: 0o755 });
    const hook = path.join(dirs.root, 'hook.sh');
    fs.writeFileSync(hook, '#!/bin/sh\nid -u > hook-uid.txt\n', { mode: 0o755 });
    fs.chownSync(dirs.home, account.uid, account.gid);
    sidecar = await startSidecar({
      dirs,
      config: {
        jupyter: { user: USER },
        snapshots: { schedule_minutes: 0 },
        reset: { template_dir: template, post_reset_hook: [hook] }
      }
    });
  });

  after(async () => {
    await sidecar?.stop();
    dirs?.remove();
  });

  test('every file of the clean home is the notebook user\'s, and the hook ran as that user', async () => {
    const res = await post<ResetResponse>(sidecar, 'reset', { confirm: 'Reset data' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    // Jupyter, started as the user after the swap, writes its runtime files under the user's HOME: the home.
    assert.deepEqual(listing(dirs.home, { excludes: ['hook-uid.txt', '.local', '.ipython'] }), listing(template));
    for (const line of listing(dirs.home, { withOwners: true })) {
      assert.match(line, new RegExp(` ${account.uid}:${account.gid}$`), line);
    }
    assert.equal(fs.readFileSync(path.join(dirs.home, 'hook-uid.txt'), 'utf8').trim(), String(account.uid));
    // The template itself is untouched (still root's).
    assert.equal(fs.statSync(path.join(template, 'README.md')).uid, 0);
  });

  test('a link the user planted in the home is moved aside as a link: nothing is written through it', async () => {
    // The user points a name the template also has at a folder outside the home.
    fs.rmSync(path.join(dirs.home, 'data'), { recursive: true, force: true });
    fs.symlinkSync(outside, path.join(dirs.home, 'data'));
    write(dirs.home, 'notes.txt', 'mine\n');
    const res = await post<ResetResponse>(sidecar, 'reset', { confirm: 'Reset data' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(fs.readdirSync(outside), [], 'nothing was written outside the home');
    assert.ok(fs.lstatSync(path.join(dirs.home, 'data')).isDirectory());
    assert.equal(fs.lstatSync(path.join(dirs.home, 'data', 'table.csv')).uid, account.uid);
  });
});
