/**
 * The GPU-hours ledger against real SQLite files in temp dirs. A fake clock
 * makes metering deterministic; crash and concurrency tests use real child
 * processes on the same file.
 */
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { Database, ledgerPath, openDatabase } from '../../src/quota/db';
import { StartupError, WorkspaceError } from '../../src/errors';
import { Ledger, QuotaPolicy } from '../../src/quota/ledger';
import { parsePeriod } from '../../src/quota/periods';
import { FakeClock } from '../support/clock';
import { SIDECAR_DIR } from '../support/sidecar';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Monday 5 January 2026, 00:00 UTC: the operator's period anchor in most tests. */
const MONDAY = Date.UTC(2026, 0, 5);

const roots: string[] = [];
after(() => {
  for (const root of roots) {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

function tempStateDir(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-ledger-test-'));
  roots.push(root);
  return path.join(root, 'state');
}

interface Fixture {
  ledger: Ledger;
  clock: FakeClock;
  db: Database;
  file: string;
}

const openDbs: Database[] = [];
after(() => {
  for (const db of openDbs) {
    if (db.open) {
      db.close();
    }
  }
});

function fixture(wallStart = MONDAY + 2 * DAY + 9 * HOUR, file = ledgerPath(tempStateDir())): Fixture {
  const db = openDatabase(file);
  openDbs.push(db);
  const clock = new FakeClock(wallStart);
  return { ledger: new Ledger(db, clock), clock, db, file };
}

const policy = (hours: number, period: string, anchorMs = MONDAY): QuotaPolicy => ({ hours, period: parsePeriod(period), anchorMs });

/** Runs one GPU session that charges `seconds` (weight 1), ticking once at the end. */
function useGpu(f: Fixture, seconds: number): void {
  f.ledger.openSession({ profile: 'a100', weight: 1, actor: 'alice' });
  f.clock.advance(seconds * 1000);
  f.ledger.closeSession({ actor: 'alice', reason: 'done' });
}

function assertWorkspaceError(fn: () => unknown, status: number, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof WorkspaceError, `expected a WorkspaceError, got ${String(err)}`);
    assert.equal(err.status, status);
    assert.match(err.message, pattern);
    return true;
  });
}

// ------------------------------------------------------------------ metering

test('an open GPU session is charged the time that passed, tick by tick', () => {
  const f = fixture();
  f.ledger.openSession({ profile: 'a100', weight: 1, actor: 'alice' });
  f.clock.advance(30_000);
  assert.equal(f.ledger.tick(), 30);
  f.clock.advance(45_000);
  assert.equal(f.ledger.tick(), 45);
  assert.equal(f.ledger.currentSession()?.charged_seconds, 75);
  assert.equal(f.ledger.summary(policy(10, 'total')).used_seconds, 75);
});

test('a half-GPU profile (weight 0.5) is charged half the time', () => {
  const f = fixture();
  f.ledger.openSession({ profile: 'half', weight: 0.5, actor: 'alice' });
  f.clock.advance(600_000);
  assert.equal(f.ledger.tick(), 300);
  assert.equal(f.ledger.summary(policy(1, 'total')).used_seconds, 300);
});

test('a wall-clock jump forward between ticks bills only the time that really passed', () => {
  const f = fixture();
  f.ledger.openSession({ profile: 'a100', weight: 1, actor: 'alice' });
  f.clock.mono += 60_000;
  f.clock.wall += 3 * HOUR;
  assert.equal(f.ledger.tick(), 60);
  assert.equal(f.ledger.summary(policy(1, 'total')).used_seconds, 60);
});

test('a wall-clock jump backward between ticks refunds nothing and bills the time that passed', () => {
  const f = fixture();
  f.ledger.openSession({ profile: 'a100', weight: 1, actor: 'alice' });
  f.clock.advance(20_000);
  f.ledger.tick();
  f.clock.mono += 40_000;
  f.clock.wall -= DAY;
  assert.equal(f.ledger.tick(), 40);
  assert.equal(f.ledger.currentSession()?.charged_seconds, 60);
  assert.equal(f.ledger.summary(policy(1, 'total')).used_seconds, 60);
});

test('a tick charges no more than maxChargeSeconds, and never a negative amount', () => {
  const f = fixture();
  f.ledger.openSession({ profile: 'a100', weight: 1, actor: 'alice' });
  f.clock.advance(100_000);
  assert.equal(f.ledger.tick(30), 30);
  f.clock.advance(100_000);
  assert.equal(f.ledger.tick(-5), 0);
  assert.equal(f.ledger.currentSession()?.charged_seconds, 30);
});

test('ticking with no GPU session open charges nothing', () => {
  const f = fixture();
  f.clock.advance(60_000);
  assert.equal(f.ledger.tick(), 0);
  assert.equal(f.ledger.summary(policy(1, 'total')).used_seconds, 0);
});

test('opening a second GPU session while one is open is refused with 409', () => {
  const f = fixture();
  f.ledger.openSession({ profile: 'a100', weight: 1, actor: 'alice' });
  assertWorkspaceError(() => f.ledger.openSession({ profile: 'a100', weight: 1, actor: 'alice' }), 409, /already open/);
});

test('a GPU session cannot be opened with a weight of 0 or less', () => {
  const f = fixture();
  for (const weight of [0, -1, NaN, Infinity]) {
    assertWorkspaceError(() => f.ledger.openSession({ profile: 'a100', weight, actor: 'alice' }), 400, /weight must be/);
  }
  assert.equal(f.ledger.currentSession(), null);
});

test('closing a session charges up to the close and records gpu.on and gpu.off in the audit log', () => {
  const f = fixture();
  const id = f.ledger.openSession({ profile: 'a100', weight: 1, actor: 'alice' });
  f.clock.advance(90_000);
  f.ledger.closeSession({ actor: 'alice', reason: 'switched to CPU' });
  assert.equal(f.ledger.currentSession(), null);
  const [session] = f.ledger.sessions(null);
  assert.equal(session.id, id);
  assert.equal(session.charged_seconds, 90);
  assert.equal(session.end_reason, 'switched to CPU');
  assert.equal(session.ended_at_ms, f.clock.wall);
  const log = f.ledger.auditLog(10);
  assert.deepEqual(
    log.map(e => [e.action, e.actor]),
    [
      ['gpu.off', 'alice'],
      ['gpu.on', 'alice']
    ]
  );
  assert.equal((log[0].detail as { reason: string }).reason, 'switched to CPU');
});

test('closing when no session is open is refused with 409', () => {
  const f = fixture();
  assertWorkspaceError(() => f.ledger.closeSession({ actor: 'alice', reason: 'off' }), 409, /No GPU session is open/);
});

test('a session closed by someone else (another Ledger on the file) stops being charged here', () => {
  const f = fixture();
  f.ledger.openSession({ profile: 'a100', weight: 1, actor: 'alice' });
  const other = new Ledger(f.db, f.clock);
  other.recoverAfterCrash();
  f.clock.advance(60_000);
  assert.equal(f.ledger.tick(), 0);
  assert.equal(f.ledger.summary(policy(1, 'total')).used_seconds, 0);
});

// ------------------------------------------------------------------ periods

test('usage just before a day boundary counts for that day, usage just after for the next', () => {
  const boundary = MONDAY + 3 * DAY;
  const f = fixture(boundary - 30_000);
  f.ledger.openSession({ profile: 'a100', weight: 1, actor: 'alice' });
  f.clock.advance(20_000); // stamped 10 s before midnight
  f.ledger.tick();
  f.clock.advance(20_000); // stamped 10 s after midnight
  f.ledger.tick();
  const today = f.ledger.summary(policy(2, 'day'));
  assert.equal(today.used_seconds, 20);
  assert.equal(today.window_start, new Date(boundary).toISOString());
  assert.equal(today.next_reset, new Date(boundary + DAY).toISOString());
  f.clock.wall = boundary - 1;
  const yesterday = f.ledger.summary(policy(2, 'day'));
  assert.equal(yesterday.used_seconds, 20);
  assert.equal(yesterday.next_reset, new Date(boundary).toISOString());
});

test('a weekly allocation starts afresh at the week boundary', () => {
  const f = fixture(MONDAY + 7 * DAY - HOUR);
  useGpu(f, 1800);
  assert.equal(f.ledger.summary(policy(10, 'week')).remaining_seconds, 10 * 3600 - 1800);
  f.clock.advance(HOUR); // Monday 00:00 of the next week
  const fresh = f.ledger.summary(policy(10, 'week'));
  assert.equal(fresh.used_seconds, 0);
  assert.equal(fresh.remaining_seconds, 10 * 3600);
  assert.equal(fresh.window_start, new Date(MONDAY + 7 * DAY).toISOString());
  assert.equal(fresh.next_reset, new Date(MONDAY + 14 * DAY).toISOString());
});

test('a period anchor in the future still gives the week containing now', () => {
  const anchor = MONDAY + 10 * 7 * DAY; // ten weeks ahead
  const f = fixture(anchor - 3 * DAY);
  useGpu(f, 600);
  const s = f.ledger.summary(policy(5, 'week', anchor));
  assert.equal(s.window_start, new Date(anchor - 7 * DAY).toISOString());
  assert.equal(s.next_reset, new Date(anchor).toISOString());
  assert.equal(s.used_seconds, 600);
});

test('in a rolling window, usage older than the window no longer counts', () => {
  const f = fixture();
  useGpu(f, 600);
  f.clock.advance(HOUR);
  const s = f.ledger.summary(policy(3, 'rolling:2h'));
  assert.equal(s.used_seconds, 600);
  assert.equal(s.next_reset, null);
  f.clock.advance(HOUR + 1);
  assert.equal(f.ledger.summary(policy(3, 'rolling:2h')).used_seconds, 0);
});

test('with the "total" period all usage ever counts and nothing resets', () => {
  const f = fixture();
  useGpu(f, 100);
  f.clock.advance(400 * DAY);
  useGpu(f, 50);
  const s = f.ledger.summary(policy(1, 'total'));
  assert.equal(s.used_seconds, 150);
  assert.equal(s.window_start, null);
  assert.equal(s.next_reset, null);
  assert.equal(s.period, 'total');
});

test('remaining hours never go below zero', () => {
  const f = fixture();
  useGpu(f, 60);
  const s = f.ledger.summary(policy(0, 'total'));
  assert.equal(s.used_seconds, 60);
  assert.equal(s.remaining_seconds, 0);
});

// ------------------------------------------------------------------ grants

test('a grant raises the allocation', () => {
  const f = fixture();
  const grant = f.ledger.grant({ hours: 2.5, reason: '  deadline extension  ', actor: 'operator-cli:bob' });
  assert.equal(grant.reason, 'deadline extension');
  const s = f.ledger.summary(policy(10, 'week'));
  assert.equal(s.granted_seconds, 2.5 * 3600);
  assert.equal(s.allocation_seconds, 12.5 * 3600);
  assert.equal(s.remaining_seconds, 12.5 * 3600);
  assert.deepEqual(f.ledger.grants(null).map(g => g.id), [grant.id]);
  const [entry] = f.ledger.auditLog(1);
  assert.equal(entry.action, 'quota.grant');
  assert.equal(entry.actor, 'operator-cli:bob');
});

test('in a weekly period, a grant made last week no longer counts', () => {
  const f = fixture(MONDAY + 6 * DAY);
  f.ledger.grant({ hours: 5, reason: 'extra', actor: 'op' });
  assert.equal(f.ledger.summary(policy(10, 'week')).allocation_seconds, 15 * 3600);
  f.clock.advance(2 * DAY);
  const s = f.ledger.summary(policy(10, 'week'));
  assert.equal(s.granted_seconds, 0);
  assert.equal(s.allocation_seconds, 10 * 3600);
  assert.equal(f.ledger.grants(MONDAY + 7 * DAY).length, 0);
  assert.equal(f.ledger.grants(null).length, 1);
});

test('with the "total" period every grant ever made counts', () => {
  const f = fixture();
  f.ledger.grant({ hours: 1, reason: 'a', actor: 'op' });
  f.clock.advance(100 * DAY);
  f.ledger.grant({ hours: 2, reason: 'b', actor: 'op' });
  assert.equal(f.ledger.summary(policy(0, 'total')).allocation_seconds, 3 * 3600);
});

test('a grant of hours that are not a number in (0, 10000] is refused with 400', () => {
  const f = fixture();
  for (const hours of [0, -3, 1e9, 10000.5, NaN, Infinity]) {
    assertWorkspaceError(() => f.ledger.grant({ hours, reason: 'x', actor: 'op' }), 400, /hours must be/);
  }
  // Callers pass parsed JSON: a string is not a number of hours.
  assertWorkspaceError(() => f.ledger.grant({ hours: '5' as unknown as number, reason: 'x', actor: 'op' }), 400, /hours must be/);
  assert.equal(f.ledger.grants(null).length, 0);
});

test('a grant without a reason, or with one over 500 characters, is refused with 400', () => {
  const f = fixture();
  for (const reason of ['', '   ', 'x'.repeat(501)]) {
    assertWorkspaceError(() => f.ledger.grant({ hours: 1, reason, actor: 'op' }), 400, /reason/);
  }
  assert.equal(f.ledger.grant({ hours: 1, reason: 'x'.repeat(500), actor: 'op' }).reason.length, 500);
});

// ------------------------------------------------------------------ state, audit, persistence

test('saved state and the record survive closing and reopening the ledger', () => {
  const f = fixture();
  f.ledger.setState('gpu.mode', 'on');
  f.ledger.setState('gpu.mode', 'off');
  f.ledger.grant({ hours: 1, reason: 'r', actor: 'op' });
  useGpu(f, 42);
  f.db.close();
  const again = fixture(f.clock.wall, f.file);
  assert.equal(again.ledger.getState('gpu.mode'), 'off');
  assert.equal(again.ledger.getState('missing'), null);
  const s = again.ledger.summary(policy(0, 'total'));
  assert.equal(s.used_seconds, 42);
  assert.equal(s.granted_seconds, 3600);
});

test('the audit log lists the newest entries first, up to the limit', () => {
  const f = fixture();
  for (let i = 0; i < 5; i++) {
    f.ledger.audit('system', 'idle.stop', { n: i });
  }
  const log = f.ledger.auditLog(3);
  assert.deepEqual(
    log.map(e => (e.detail as { n: number }).n),
    [4, 3, 2]
  );
  assertWorkspaceError(() => f.ledger.auditLog(0), 400, /limit/);
});

// ------------------------------------------------------------------ crash recovery

test('a session left open by a killed sidecar is closed at its last tick at the next start', () => {
  const f = fixture();
  const crashed = new Ledger(f.db, f.clock);
  const id = crashed.openSession({ profile: 'a100', weight: 1, actor: 'alice' });
  f.clock.advance(30_000);
  crashed.tick();
  const lastTickWall = f.clock.wall;
  f.clock.advance(100_000); // the sidecar ran on without ticking, then died

  const restarted = new Ledger(f.db, f.clock);
  assert.equal(restarted.currentSession()?.id, id);
  assert.deepEqual(restarted.recoverAfterCrash(), { closed: 1 });
  assert.equal(restarted.currentSession(), null);
  const [session] = restarted.sessions(null);
  assert.equal(session.charged_seconds, 30);
  assert.equal(session.ended_at_ms, lastTickWall);
  assert.equal(restarted.auditLog(1)[0].action, 'gpu.off');
  assert.deepEqual(restarted.recoverAfterCrash(), { closed: 0 });
  restarted.openSession({ profile: 'a100', weight: 1, actor: 'alice' });
});

/** Every child started here, so a failing test leaves none behind. */
const children = new Set<ChildProcess>();
after(() => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
    }
  }
});

interface Child {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs a CommonJS snippet under tsx, so it can require the ledger's TypeScript sources. */
function runChild(code: string): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', code], { cwd: SIDECAR_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(resolve =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    })
  );
  return { child, stdout: () => out, stderr: () => err, exited };
}

const SRC = JSON.stringify(path.join(SIDECAR_DIR, 'src'));

async function waitForOutput(c: Child, pattern: RegExp, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(c.stdout())) {
    if (c.child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`child did not print ${pattern}:\n--- stdout ---\n${c.stdout()}\n--- stderr ---\n${c.stderr()}`);
    }
    await new Promise(r => setTimeout(r, 20));
  }
}

test('a sidecar killed with SIGKILL while metering is charged the time it ticked, within one tick', async () => {
  const file = ledgerPath(tempStateDir());
  // Prints the monotonic time each tick measured up to, right after the tick commits.
  const c = runChild(`
    const fs = require('node:fs');
    const { performance } = require('node:perf_hooks');
    const { openDatabase } = require(${SRC} + '/quota/db');
    const { Ledger } = require(${SRC} + '/quota/ledger');
    let lastMono = 0;
    const clock = { wallMs: () => Date.now(), monoMs: () => (lastMono = performance.now()) };
    const ledger = new Ledger(openDatabase(${JSON.stringify(file)}), clock);
    ledger.openSession({ profile: 'a100', weight: 1, actor: 'crash-test' });
    fs.writeSync(1, 'open ' + lastMono + '\\n');
    setInterval(() => {
      ledger.tick();
      fs.writeSync(1, 'tick ' + lastMono + '\\n');
    }, 200);
  `);
  await waitForOutput(c, /^open /m);
  await new Promise(r => setTimeout(r, 2000));
  c.child.kill('SIGKILL');
  assert.equal((await c.exited).signal, 'SIGKILL');

  const lines = c.stdout().trim().split('\n');
  const openMono = Number(lines[0].split(' ')[1]);
  const ticks = lines.filter(l => l.startsWith('tick ')).map(l => Number(l.split(' ')[1]));
  assert.ok(ticks.length >= 5, `expected the child to tick for ~2 s, got:\n${c.stdout()}\n${c.stderr()}`);
  const tickedSeconds = (ticks[ticks.length - 1] - openMono) / 1000;

  const f = fixture(Date.now(), file);
  assert.deepEqual(f.ledger.recoverAfterCrash(), { closed: 1 });
  const [session] = f.ledger.sessions(null);
  assert.notEqual(session.ended_at_ms, null);
  // Every printed tick was committed; at most one more committed before the kill landed.
  assert.ok(session.charged_seconds >= tickedSeconds - 1e-6, `charged ${session.charged_seconds} s < ticked ${tickedSeconds} s`);
  assert.ok(session.charged_seconds <= tickedSeconds + 0.25, `charged ${session.charged_seconds} s > ticked ${tickedSeconds} s + one tick`);
  // Same rows, summed in another order: equal up to rounding.
  assert.ok(Math.abs(f.ledger.summary(policy(0, 'total')).used_seconds - session.charged_seconds) < 1e-9);
});

test('grants from several processes at once on the same ledger all land', async () => {
  const file = ledgerPath(tempStateDir());
  const processes = 6;
  const perProcess = 25;
  // All start on a file that does not exist yet, so they also race to create the schema.
  const kids = Array.from({ length: processes }, (_, i) =>
    runChild(`
      const { openDatabase } = require(${SRC} + '/quota/db');
      const { Ledger } = require(${SRC} + '/quota/ledger');
      const db = openDatabase(${JSON.stringify(file)});
      const ledger = new Ledger(db);
      for (let n = 0; n < ${perProcess}; n++) ledger.grant({ hours: 0.25, reason: 'p${i} #' + n, actor: 'proc-${i}' });
      db.close();
      console.log('done');
    `)
  );
  for (const kid of kids) {
    const { code } = await kid.exited;
    assert.equal(code, 0, kid.stderr());
  }
  const f = fixture(Date.now(), file);
  assert.equal(f.ledger.grants(null).length, processes * perProcess);
  assert.equal(f.ledger.summary(policy(0, 'total')).granted_seconds, processes * perProcess * 0.25 * 3600);
  assert.equal(f.ledger.auditLog(1000).filter(e => e.action === 'quota.grant').length, processes * perProcess);
});

// ------------------------------------------------------------------ a ledger file that cannot be used

function assertStartupError(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof StartupError, `expected a StartupError, got ${String(err)}`);
    for (const pattern of patterns) {
      assert.match(err.message, pattern);
    }
    return true;
  });
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('a ledger file that is not a database stops start-up, naming the file, and is left untouched', () => {
  const file = ledgerPath(tempStateDir());
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const garbage = Buffer.alloc(8192);
  for (let i = 0; i < garbage.length; i++) {
    garbage[i] = (i * 7919 + 13) % 251;
  }
  fs.writeFileSync(file, garbage);
  assertStartupError(() => openDatabase(file), new RegExp(escape(file)), /not a readable SQLite database/, /left as it is/);
  assert.deepEqual(fs.readFileSync(file), garbage);
});

test('a ledger with damaged pages fails the integrity check at start and is left untouched', () => {
  const f = fixture();
  for (let i = 0; i < 400; i++) {
    f.ledger.grant({ hours: 1, reason: `grant number ${i} `.repeat(10), actor: 'op' });
  }
  f.db.close();
  const bytes = fs.readFileSync(f.file);
  const pageSize = 4096;
  assert.ok(bytes.length > 6 * pageSize);
  bytes.fill(0xa5, 3 * pageSize + 8, 5 * pageSize); // damage two pages, keep the header valid
  fs.writeFileSync(f.file, bytes);
  assertStartupError(() => openDatabase(f.file), new RegExp(escape(f.file)), /integrity check|not a readable/);
  assert.deepEqual(fs.readFileSync(f.file), bytes);
});

test('a ledger written by a newer version stops start-up and is left untouched', () => {
  const f = fixture();
  f.db.close();
  const raw = new BetterSqlite3(f.file);
  raw.pragma('user_version = 99');
  raw.close();
  const bytes = fs.readFileSync(f.file);
  assertStartupError(() => openDatabase(f.file), /newer gpu-workspace/, /schema version 99/);
  assert.deepEqual(fs.readFileSync(f.file), bytes);
});

test('a ledger locked by another process beyond the busy timeout stops start-up', async () => {
  const f = fixture();
  f.db.close();
  const holder = runChild(`
    const Database = require('better-sqlite3');
    const db = new Database(${JSON.stringify(f.file)});
    db.exec('BEGIN EXCLUSIVE');
    db.exec("INSERT INTO state (key, value, updated_at_ms) VALUES ('held', 'yes', 0)");
    console.log('locked');
    setInterval(() => {}, 1000);
  `);
  try {
    await waitForOutput(holder, /locked/);
    const started = Date.now();
    assertStartupError(() => openDatabase(f.file, { busyTimeoutMs: 300 }), /locked by another process/, new RegExp(escape(f.file)));
    assert.ok(Date.now() - started >= 250, 'it should have waited for the busy timeout');
  } finally {
    holder.child.kill('SIGKILL');
    await holder.exited;
  }
  // Once the other process is gone the ledger opens, without what it never committed.
  const again = fixture(Date.now(), f.file);
  assert.equal(again.ledger.getState('held'), null);
});

test('a ledger whose folder cannot be created stops start-up, naming the file', () => {
  const root = tempStateDir();
  fs.mkdirSync(path.dirname(root), { recursive: true });
  fs.writeFileSync(root, 'a file where the state directory should be');
  const file = ledgerPath(root);
  assertStartupError(() => openDatabase(file), new RegExp(escape(file)), /writable/);
});

test('a new ledger file is readable only by its owner', () => {
  const f = fixture();
  assert.equal(fs.statSync(f.file).mode & 0o777, 0o600);
  assert.equal(fs.statSync(path.dirname(f.file)).mode & 0o777, 0o700);
});
