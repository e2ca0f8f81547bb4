/**
 * Ledger tick benchmark: what one metering tick costs, against the floor of a
 * bare INSERT of the same usage row.
 *
 *   tick      Ledger.tick(): one IMMEDIATE transaction that advances the
 *             session (UPDATE) and appends the usage row (INSERT)
 *   baseline  the same INSERT alone, autocommit, on its own table
 *
 * Both run on a WAL file with synchronous=NORMAL in a temp dir, opened by the
 * ledger's own openDatabase, interleaved in rounds so machine-load drift hits
 * both alike. A real sidecar ticks every tick_seconds (30 s by default), so
 * anything under a millisecond is noise; this shows how far off that is.
 *
 * Run from the repository root: `node --import tsx bench/ledger-tick.ts`.
 * Knobs (environment): BENCH_TICKS total ticks per variant (20000),
 * BENCH_ROUNDS rounds they are split into (10).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ledgerPath, openDatabase } from '../sidecar/src/quota/db';
import { Clock, Ledger } from '../sidecar/src/quota/ledger';

const TICKS = Number(process.env.BENCH_TICKS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const WARMUP = 500;

/** Each call is one second later, so every tick charges a non-zero amount like a real one. */
class SteppingClock implements Clock {
  private ms = Date.now();
  wallMs(): number {
    return this.ms;
  }
  monoMs(): number {
    this.ms += 1000;
    return this.ms;
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function main(): void {
  if (!Number.isInteger(TICKS) || TICKS < ROUNDS || !Number.isInteger(ROUNDS) || ROUNDS < 1) {
    throw new Error(`BENCH_TICKS (${TICKS}) and BENCH_ROUNDS (${ROUNDS}) must be whole numbers with ticks ≥ rounds ≥ 1`);
  }
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-ledger-bench-'));
  try {
    const db = openDatabase(ledgerPath(root));
    const clock = new SteppingClock();
    const ledger = new Ledger(db, clock);
    ledger.openSession({ profile: 'bench', weight: 0.5, actor: 'bench' });
    // Same columns and constraints as the usage table, without the foreign key or the session.
    db.exec(`CREATE TABLE bench_usage (
      id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL, at_wall_ms INTEGER NOT NULL,
      seconds_raw REAL NOT NULL CHECK (seconds_raw >= 0), seconds_charged REAL NOT NULL CHECK (seconds_charged >= 0));
      CREATE INDEX bench_usage_at ON bench_usage (at_wall_ms);`);
    const insert = db.prepare<[number, number, number, number]>(
      'INSERT INTO bench_usage (session_id, at_wall_ms, seconds_raw, seconds_charged) VALUES (?, ?, ?, ?)'
    );
    const baseline = (n: number): void => {
      for (let i = 0; i < n; i++) {
        insert.run(1, clock.wallMs(), 1, 0.5);
      }
    };
    const ticks = (n: number): void => {
      for (let i = 0; i < n; i++) {
        ledger.tick();
      }
    };

    ticks(WARMUP);
    baseline(WARMUP);
    const perRound = Math.floor(TICKS / ROUNDS);
    const tickUs: number[] = [];
    const baseUs: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      let t0 = performance.now();
      ticks(perRound);
      tickUs.push(((performance.now() - t0) * 1000) / perRound);
      t0 = performance.now();
      baseline(perRound);
      baseUs.push(((performance.now() - t0) * 1000) / perRound);
    }
    const charged = ledger.currentSession()?.charged_seconds ?? 0;
    ledger.closeSession({ actor: 'bench', reason: 'done' });
    const walBytes = fs.existsSync(`${ledgerPath(root)}-wal`) ? fs.statSync(`${ledgerPath(root)}-wal`).size : 0;
    db.close();

    const tick = median(tickUs);
    const base = median(baseUs);
    const fmt = (us: number): string => `${us.toFixed(1).padStart(7)} µs`;
    process.stdout.write(
      [
        `ledger tick benchmark: ${perRound * ROUNDS} writes per variant in ${ROUNDS} rounds (median of rounds), WAL + synchronous=NORMAL, ${os.tmpdir()}`,
        `  tick (UPDATE session + INSERT usage, one transaction)  ${fmt(tick)}   (min ${Math.min(...tickUs).toFixed(1)}, max ${Math.max(...tickUs).toFixed(1)})`,
        `  baseline (INSERT usage row alone, autocommit)          ${fmt(base)}   (min ${Math.min(...baseUs).toFixed(1)}, max ${Math.max(...baseUs).toFixed(1)})`,
        `  ratio tick / baseline                                  ${(tick / base).toFixed(2)}×`,
        `  (sanity: ${charged.toFixed(0)} s charged at weight 0.5; WAL file ${(walBytes / 1024).toFixed(0)} KiB before close)`,
        ''
      ].join('\n')
    );
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main();
