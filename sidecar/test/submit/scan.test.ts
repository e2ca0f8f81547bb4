/**
 * What the operator's globs find in a real home folder: the rules a user
 * meets in the checklist (wildcards and dot-names, folders, excluded caches,
 * links never followed, the manifest's reserved names).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { patternProblem } from '../../src/submit/patterns';
import { scanSubmission } from '../../src/submit/scan';
import { makeTempDirs, TempDirs } from '../support/sidecar';
import { writeHomeFile } from '../support/submit';

let dirs: TempDirs;
const EXCLUDE = ['.ipynb_checkpoints', '__pycache__'];

before(() => {
  dirs = makeTempDirs();
  const h = dirs.home;
  writeHomeFile(h, 'project.ipynb', '{}');
  writeHomeFile(h, 'notebooks/a.ipynb', '{}');
  writeHomeFile(h, 'notebooks/deep/b.ipynb', '{}');
  writeHomeFile(h, 'notebooks/.ipynb_checkpoints/a-checkpoint.ipynb', '{}');
  writeHomeFile(h, 'notebooks/.hidden.ipynb', '{}');
  writeHomeFile(h, 'report/text.md', 'hello');
  writeHomeFile(h, 'report/.env', 'SECRET=1');
  writeHomeFile(h, 'report/__pycache__/x.pyc', 'x');
  writeHomeFile(h, 'MANIFEST.json', '{}');
  fs.mkdirSync(path.join(dirs.root, 'elsewhere'));
  writeHomeFile(dirs.root, 'elsewhere/c.ipynb', '{}');
  fs.symlinkSync(path.join(dirs.root, 'elsewhere'), path.join(h, 'notebooks', 'linked'));
  fs.symlinkSync('a.ipynb', path.join(h, 'notebooks', 'alias.ipynb'));
});

after(() => dirs?.remove());

const scan = (required: string[], conversions: Array<{ from: string; to: 'html' }> = []) =>
  scanSubmission({ home: dirs.home, required, conversions, exclude: EXCLUDE });

describe('the checklist scan', () => {
  test('"**" finds files at any depth, skipping dot-names and excluded caches', async () => {
    const r = await scan(['**/*.ipynb']);
    assert.deepEqual(r.items[0].files.map(f => f.path), ['notebooks/a.ipynb', 'notebooks/deep/b.ipynb', 'project.ipynb']);
  });

  test('a linked folder is not entered, and is listed with where it points', async () => {
    const r = await scan(['**/*.ipynb']);
    const linked = r.items[0].skipped.find(s => s.path === 'notebooks/linked');
    assert.match(linked?.reason ?? '', /outside the home folder: not followed/);
    assert.ok(!r.files.some(f => f.path.includes('c.ipynb')));
  });

  test('a link to a file inside the home is left out too, saying to name the file itself', async () => {
    const r = await scan(['notebooks/*.ipynb']);
    assert.deepEqual(r.items[0].files.map(f => f.path), ['notebooks/a.ipynb']);
    assert.match(r.items[0].skipped.find(s => s.path === 'notebooks/alias.ipynb')?.reason ?? '', /links are not followed; name the file itself/);
  });

  test('a folder named outright brings every file below it, dot-files included, caches not', async () => {
    const r = await scan(['report']);
    assert.deepEqual(r.items[0].files.map(f => f.path), ['report/.env', 'report/text.md']);
  });

  test('a dot-name named outright is found', async () => {
    const r = await scan(['notebooks/.hidden.ipynb']);
    assert.equal(r.items[0].present, true);
  });

  test('a missing literal path is not present', async () => {
    const r = await scan(['answers.ipynb']);
    assert.deepEqual(r.items[0], { path: 'answers.ipynb', present: false, files: [], skipped: [] });
  });

  test('a home file named like the archive\'s manifest is left out, with why', async () => {
    const r = await scan(['*.json']);
    assert.equal(r.items[0].present, false);
    assert.match(r.items[0].skipped[0].reason, /archive's own manifest/);
  });

  test('a conversion lists its sources and the outputs it adds beside them', async () => {
    const r = await scan(['project.ipynb'], [{ from: 'notebooks/**/*.ipynb', to: 'html' }]);
    assert.deepEqual(r.conversions[0].sources, ['notebooks/a.ipynb', 'notebooks/deep/b.ipynb']);
    assert.deepEqual(r.conversions[0].outputs, ['notebooks/a.html', 'notebooks/deep/b.html']);
    assert.equal(r.conversions[0].ready, true);
  });

  test('patterns that leave the home are refused as text', () => {
    assert.match(patternProblem('../x') ?? '', /leaves the home/);
    assert.match(patternProblem('a/../../x') ?? '', /leaves the home/);
    assert.match(patternProblem('/etc/passwd') ?? '', /absolute/);
    assert.match(patternProblem('~/x') ?? '', /"~"/);
    assert.match(patternProblem('a**b') ?? '', /whole name/);
    assert.equal(patternProblem('notebooks/**/*.ipynb'), null);
  });
});
