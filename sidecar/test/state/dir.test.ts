/**
 * The state directory and the private folders beside it: nobody else can
 * read them, guess them, or plant them in advance.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { prepareStateDir } from '../../src/state/dir';

const roots: string[] = [];
after(() => roots.forEach(r => fs.rmSync(r, { recursive: true, force: true })));

function deepStateDir(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-state-test-'));
  roots.push(root);
  // Deeper than a Unix socket path may be (108 bytes).
  return path.join(root, 'a'.repeat(60), 'b'.repeat(60), 'state');
}

test('the state directory is the sidecar\'s alone (0700)', () => {
  const layout = prepareStateDir(deepStateDir());
  assert.equal(fs.statSync(layout.root).mode & 0o777, 0o700);
  assert.equal(fs.statSync(layout.secretsDir).mode & 0o777, 0o700);
});

test('a state directory too deep for a socket gets a fresh, private socket folder with an unguessable name', () => {
  const dir = deepStateDir();
  const first = prepareStateDir(dir);
  const second = prepareStateDir(dir);
  const folder = path.dirname(first.socketPath);
  roots.push(folder, path.dirname(second.socketPath));
  assert.ok(Buffer.byteLength(first.socketPath) <= 107, first.socketPath);
  assert.notEqual(folder, path.dirname(second.socketPath), 'each start gets a new folder, never one someone could have made in advance');
  const st = fs.lstatSync(folder);
  assert.ok(st.isDirectory() && !st.isSymbolicLink());
  assert.equal(st.mode & 0o777, 0o700);
  assert.equal(st.uid, process.getuid?.());
});
