/**
 * The GPU meter over a real ledger (SQLite in a temp folder) and a clock the
 * test moves: it charges only while Jupyter runs in GPU mode.
 */
import type { GpuProfile } from '@jupyterlab-gpu-workspace/api';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { createLogger } from '../../src/log';
import { ledgerPath, openDatabase } from '../../src/quota/db';
import { Ledger } from '../../src/quota/ledger';
import { FakeClock } from '../support/clock';
import { GpuMeter } from '../../src/quota/meter';
import { parsePeriod } from '../../src/quota/periods';
import { QuotaService } from '../../src/quota/service';

const roots: string[] = [];
after(() => roots.forEach(r => fs.rmSync(r, { recursive: true, force: true })));

const PROFILE: GpuProfile = { name: 'gpu', label: 'GPU', weight: 1, devices: null };

function meterFixture(hours = 10) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-meter-test-'));
  roots.push(root);
  const clock = new FakeClock(Date.UTC(2026, 0, 5, 12));
  const db = openDatabase(ledgerPath(root));
  const ledger = new Ledger(db, clock);
  const quota = new QuotaService(ledger, { hours, period: parsePeriod('total'), anchorMs: 0 }, [60, 15]);
  // A long tick: the test writes ticks through the meter's own transitions, not its timer.
  const meter = new GpuMeter(ledger, quota, 3600, createLogger('error', 'test', () => undefined), clock);
  return { clock, ledger, quota, meter, close: () => db.close() };
}

test('GPU time is charged only while Jupyter runs: a restart or a crash in GPU mode costs nothing', () => {
  const f = meterFixture();
  f.meter.setJupyterRunning(true);
  f.meter.begin(PROFILE, 'alice');
  f.clock.advance(60_000);
  f.meter.setJupyterRunning(false); // a crash, or a restart
  f.clock.advance(600_000); // ten minutes in which nothing could use the GPU
  assert.equal(f.meter.status().burn_rate, 0);
  f.meter.setJupyterRunning(true);
  f.clock.advance(30_000);
  f.meter.end('alice', 'switched off');
  assert.equal(f.quota.summary().used_seconds, 90);
  f.close();
});

test('GPU mode restored while Jupyter starts opens its session only once Jupyter runs', () => {
  const f = meterFixture();
  f.meter.begin(PROFILE, 'system:restore');
  f.clock.advance(20_000); // Jupyter's start-up
  assert.equal(f.ledger.currentSession(), null, 'no session while nothing can use the GPU');
  f.meter.setJupyterRunning(true);
  const session = f.ledger.currentSession();
  assert.ok(session);
  assert.equal(session.started_at_ms, f.clock.wall);
  f.clock.advance(10_000);
  assert.equal(Math.round(f.meter.status().used_seconds), 10);
  f.meter.stop();
  f.close();
});

test('a switch on whose Jupyter never ran charges nothing and leaves no session', () => {
  const f = meterFixture();
  f.meter.begin(PROFILE, 'alice');
  f.clock.advance(120_000);
  f.meter.end('alice', 'switched off');
  assert.equal(f.quota.summary().used_seconds, 0);
  assert.equal(f.ledger.sessions(null).length, 0);
  f.close();
});

test('a graceful stop closes the session as of now; the mode is kept elsewhere', () => {
  const f = meterFixture();
  f.meter.setJupyterRunning(true);
  f.meter.begin(PROFILE, 'alice');
  f.clock.advance(45_000);
  f.meter.stop();
  assert.equal(f.ledger.currentSession(), null);
  assert.equal(f.quota.summary().used_seconds, 45);
  f.close();
});
