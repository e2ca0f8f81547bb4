/**
 * The sidecar's rooms and the one direction of their imports, as
 * docs/architecture.md draws them: a room imports only rooms on lower
 * layers (or itself). An import that points up or sideways fails here with
 * the file and the import named, so the map cannot drift from the code.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

const SRC = path.resolve(__dirname, '..', '..', 'src');

/** Layer of each room: a folder of src/, or a module at its top. Lower imports nothing higher. */
export const LAYERS: Record<string, number> = {
  errors: 0,
  log: 0,
  glob: 0,
  version: 0,
  config: 1,
  state: 1,
  jupyter: 2,
  quota: 2,
  hooks: 3,
  snapshots: 3,
  gpu: 4,
  idle: 4,
  reset: 4,
  submit: 4,
  http: 5,
  teardown: 5,
  workspaceConfig: 5,
  workspace: 6,
  cli: 7
};

function roomOf(file: string): string {
  const rel = path.relative(SRC, file);
  const first = rel.split(path.sep)[0];
  return first.endsWith('.ts') ? first.slice(0, -3) : first;
}

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap(e => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('every room of sidecar/src imports only rooms below it', () => {
  const wrong: string[] = [];
  let imports = 0;
  for (const file of sources(SRC)) {
    const from = roomOf(file);
    assert.ok(from in LAYERS, `${path.relative(SRC, file)} is in a room the map does not name (${from}): add it to LAYERS and to docs/architecture.md`);
    for (const m of fs.readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const to = roomOf(path.resolve(path.dirname(file), m[1]));
      imports += 1;
      if (to !== from && !(LAYERS[to] < LAYERS[from])) {
        wrong.push(`${path.relative(SRC, file)} (${from}, layer ${LAYERS[from]}) imports ${m[1]} (${to}, layer ${LAYERS[to] ?? '?'})`);
      }
    }
  }
  assert.ok(imports > 200, `only ${imports} relative imports found: is the pattern still right?`);
  assert.deepEqual(wrong, []);
});

test('the pass-through is fenced in http/proxy/: others reach it only through its index, and it reaches no route or the front door', () => {
  const FENCE = path.join(SRC, 'http', 'proxy');
  const inside = (p: string): boolean => p === FENCE || p.startsWith(FENCE + path.sep);
  const wrong: string[] = [];
  for (const file of sources(SRC)) {
    for (const m of fs.readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const target = path.resolve(path.dirname(file), m[1]);
      if (!inside(file) && inside(target) && target !== FENCE && target !== path.join(FENCE, 'index')) {
        wrong.push(`${path.relative(SRC, file)} imports ${m[1]}, inside the fence: import '…/http/proxy' instead`);
      }
      if (inside(file) && !inside(target) && /[/\\]http[/\\](api|frontDoor|routes|login|stoppedGate|stoppedPage|uploadGuard|guard|liveEvents)/.test(target)) {
        wrong.push(`${path.relative(SRC, file)} imports ${m[1]}: the pass-through must not depend on the API or the door`);
      }
    }
  }
  assert.deepEqual(wrong, []);
});
