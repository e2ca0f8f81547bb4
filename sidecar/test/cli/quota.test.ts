/**
 * `gpu-workspace quota grant|show` as an operator runs it: a real child
 * process (the TypeScript sources under tsx, so no build is needed) on a real
 * ledger file.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { ledgerPath, openDatabase } from '../../src/quota/db';
import { Ledger } from '../../src/quota/ledger';
import { loadWorkspaceConfig } from '../../src/workspaceConfig';
import { quotaPolicy } from '../../src/quota/policy';
import { SIDECAR_DIR, STACK_LINE, TempDirs, makeTempDirs, writeConfig } from '../support/sidecar';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The whole CLI, as `gpu-workspace ARGS` runs it. */
const MAIN = `require(${JSON.stringify(path.join(SIDECAR_DIR, 'src', 'cli', 'main.ts'))}).main(process.argv.slice(1))`;
/**
 * `gpu-workspace quota ARGS` without loading the server's modules, which
 * takes seconds on a busy machine; main's dispatch is covered by MAIN tests.
 */
const QUOTA = `require(${JSON.stringify(path.join(SIDECAR_DIR, 'src', 'cli', 'quota.ts'))}).runQuota(process.argv.slice(1))`;

function gpuWorkspace(...args: string[]): Promise<Run> {
  return runNode(MAIN, args);
}

/** `gpu-workspace quota ARGS`. */
function quota(...args: string[]): Promise<Run> {
  return runNode(QUOTA, args);
}

function runNode(code: string, args: string[]): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) {
    // Overrides from the developer's shell would change the policy the tests expect.
    if (key.startsWith('GPU_WORKSPACE__')) {
      delete env[key];
    }
  }
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', code, ...args], {
    cwd: SIDECAR_DIR,
    env,
    stdio: ['ignore', 'pipe', 'pipe']
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gpu-workspace ${args.join(' ')} did not exit within 30 s`));
    }, 30_000);
    child.once('exit', code => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const dirsToRemove: TempDirs[] = [];
after(() => dirsToRemove.forEach(d => d.remove()));

function dirs(): TempDirs {
  const d = makeTempDirs();
  dirsToRemove.push(d);
  return d;
}

/** Bad input: exit 2 and one line on stderr that says what is wrong, no stack trace. */
function assertUsageError(run: Run, pattern: RegExp): void {
  assert.equal(run.code, 2, `expected exit 2, got ${run.code}\n${run.stderr}`);
  assert.match(run.stderr, pattern);
  assert.equal(run.stderr.trim().split('\n').length, 1, `expected one line:\n${run.stderr}`);
  assert.ok(!run.stderr.includes(STACK_LINE), `no stack trace expected:\n${run.stderr}`);
  assert.equal(run.stdout, '');
}

test('hours granted with the CLI show up in quota show', async () => {
  const d = dirs();
  const config = writeConfig(d.root, { gpu: { quota: { hours: 4, period: 'day', period_anchor: '2026-01-05T00:00:00Z' } } });
  const granted = await gpuWorkspace('quota', 'grant', '--hours', '2.5', '--reason', 'deadline extension', '--state-dir', d.stateDir);
  assert.equal(granted.code, 0, granted.stderr);
  assert.match(granted.stdout, /Granted 2\.5 GPU hours/);

  const json = await gpuWorkspace('quota', 'show', '--state-dir', d.stateDir, '--config', config, '--json');
  assert.equal(json.code, 0, json.stderr);
  const summary = JSON.parse(json.stdout) as Record<string, unknown>;
  assert.equal(summary.period, 'day');
  assert.equal(summary.granted_seconds, 2.5 * 3600);
  assert.equal(summary.allocation_seconds, 6.5 * 3600);
  assert.equal(summary.remaining_seconds, 6.5 * 3600);
  assert.equal(summary.used_seconds, 0);

  const text = await gpuWorkspace('quota', 'show', '--state-dir', d.stateDir, '--config', config);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /period day/);
  assert.match(text.stdout, /allocation\s+6\.50 h\s+\(4 h policy \+ 2\.50 h granted\)/);
  assert.match(text.stdout, /remaining\s+6\.50 h/);
});

test('a CLI grant is in the audit log with the operator and the reason', async () => {
  const d = dirs();
  const run = await quota('grant', '--hours', '1', '--reason', 'broken node on Tuesday', '--state-dir', d.stateDir);
  assert.equal(run.code, 0, run.stderr);
  const db = openDatabase(ledgerPath(d.stateDir));
  try {
    const [entry] = new Ledger(db).auditLog(1);
    assert.equal(entry.action, 'quota.grant');
    assert.equal(entry.actor, `operator-cli:${os.userInfo().username}`);
    assert.deepEqual(entry.detail, { grant_id: 1, hours: 1, reason: 'broken node on Tuesday' });
  } finally {
    db.close();
  }
});

test('granting negative hours exits 2 with a clear message and creates no ledger', async () => {
  const d = dirs();
  const run = await quota('grant', '--hours', '-3', '--reason', 'oops', '--state-dir', d.stateDir);
  assertUsageError(run, /hours must be a number greater than 0 and at most 10000, not -3/);
  assert.equal(fs.existsSync(d.stateDir), false);
});

test('granting an absurd number of hours exits 2 with a clear message', async () => {
  const d = dirs();
  const run = await quota('grant', '--hours', '1e9', '--reason', 'oops', '--state-dir', d.stateDir);
  assertUsageError(run, /hours must be a number greater than 0 and at most 10000, not 1000000000/);
});

test('hours that are not a number exit 2 naming what was typed', async () => {
  const d = dirs();
  const run = await quota('grant', '--hours', 'ten', '--reason', 'oops', '--state-dir', d.stateDir);
  assertUsageError(run, /--hours must be a number of hours, e\.g\. 5 or 2\.5, not "ten"/);
});

test('a grant without a reason exits 2 and asks for one', async () => {
  const d = dirs();
  const run = await quota('grant', '--hours', '3', '--state-dir', d.stateDir);
  assertUsageError(run, /--reason is required/);
  assert.equal(fs.existsSync(d.stateDir), false);
});

test('a grant without a state directory exits 2 and asks for one', async () => {
  const run = await quota('grant', '--hours', '3', '--reason', 'r');
  assertUsageError(run, /--state-dir is required/);
});

test('an unknown quota command or option exits 2 with the usage line', async () => {
  assertUsageError(await gpuWorkspace('quota', 'revoke', '--state-dir', '/nonexistent'), /unknown quota command "revoke".*usage: gpu-workspace quota grant/);
  assertUsageError(await quota('show', '--state-dir', '/nonexistent', '--verbose'), /Unknown option '--verbose'/);
});

test('quota show on a damaged ledger exits 1 naming the file, which it leaves alone', async () => {
  const d = dirs();
  fs.mkdirSync(d.stateDir, { recursive: true });
  const file = ledgerPath(d.stateDir);
  fs.writeFileSync(file, 'this is not a database, it is a note '.repeat(200));
  const before = fs.readFileSync(file);
  const run = await quota('show', '--state-dir', d.stateDir);
  assert.equal(run.code, 1, run.stderr);
  assert.ok(run.stderr.includes(file), run.stderr);
  assert.ok(!run.stderr.includes(STACK_LINE), run.stderr);
  assert.deepEqual(fs.readFileSync(file), before);
});

test('without a config file, quota show counts the same allocation as a sidecar started without one', async () => {
  const d = dirs();
  const run = await gpuWorkspace('quota', 'show', '--state-dir', d.stateDir, '--json');
  assert.equal(run.code, 0, run.stderr);
  const defaults = loadWorkspaceConfig(undefined, {});
  assert.equal(JSON.parse(run.stdout).allocation_seconds, defaults.gpu.quota.hours * 3600);
});

test('the gpu.quota section gives the hours, period and anchor', () => {
  const config = loadWorkspaceConfig(undefined, {});
  assert.deepEqual(quotaPolicy({ ...config.gpu.quota, hours: 8, period: 'week', period_anchor: '2026-01-05T00:00:00+01:00' }), {
    hours: 8,
    period: { kind: 'week' },
    anchorMs: Date.parse('2026-01-04T23:00:00Z')
  });
});
