/**
 * The ledger's SQLite file: opening, checking and migrating it.
 *
 * The file is the record of GPU hours, so nothing here ever deletes, truncates
 * or "repairs" it: every problem stops start-up with a StartupError that names
 * the file and says what the operator can do.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { StartupError } from '../errors';

export type Database = BetterSqlite3.Database;

/** Where the ledger lives inside the state directory. */
export function ledgerPath(stateDir: string): string {
  return path.join(path.resolve(stateDir), 'ledger.sqlite');
}

export interface OpenOptions {
  /**
   * How long to wait for another process's write lock before giving up. The
   * default rides out a CLI grant or a checkpoint; tests lower it.
   */
  busyTimeoutMs?: number;
}

const DEFAULT_BUSY_TIMEOUT_MS = 5000;

/**
 * Schema migrations; entry i takes `PRAGMA user_version` from i to i + 1.
 * Append only: an applied migration is never edited, a change is a new entry.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE sessions (
    id                INTEGER PRIMARY KEY,
    profile           TEXT    NOT NULL,
    weight            REAL    NOT NULL CHECK (weight > 0),
    actor             TEXT    NOT NULL,
    started_at_ms     INTEGER NOT NULL,
    last_tick_wall_ms INTEGER NOT NULL,
    charged_seconds   REAL    NOT NULL DEFAULT 0 CHECK (charged_seconds >= 0),
    ended_at_ms       INTEGER,
    end_reason        TEXT
  );
  -- At most one open session, even if two processes race to open one.
  CREATE UNIQUE INDEX sessions_one_open ON sessions ((ended_at_ms IS NULL)) WHERE ended_at_ms IS NULL;

  CREATE TABLE usage (
    id              INTEGER PRIMARY KEY,
    session_id      INTEGER NOT NULL REFERENCES sessions (id),
    at_wall_ms      INTEGER NOT NULL,
    seconds_raw     REAL    NOT NULL CHECK (seconds_raw >= 0),
    seconds_charged REAL    NOT NULL CHECK (seconds_charged >= 0)
  );
  CREATE INDEX usage_at ON usage (at_wall_ms);

  CREATE TABLE grants (
    id            INTEGER PRIMARY KEY,
    granted_at_ms INTEGER NOT NULL,
    hours         REAL    NOT NULL CHECK (hours > 0),
    reason        TEXT    NOT NULL,
    actor         TEXT    NOT NULL
  );
  CREATE INDEX grants_at ON grants (granted_at_ms);

  CREATE TABLE audit (
    id     INTEGER PRIMARY KEY,
    at_ms  INTEGER NOT NULL,
    actor  TEXT    NOT NULL,
    action TEXT    NOT NULL,
    detail TEXT    NOT NULL
  );
  CREATE INDEX audit_at ON audit (at_ms);

  CREATE TABLE state (
    key           TEXT PRIMARY KEY,
    value         TEXT NOT NULL,
    updated_at_ms INTEGER NOT NULL
  );
  `,
  // Submission receipts (submit/receipts.ts): the receipt itself as JSON, with what is queried beside it.
  `
  CREATE TABLE submissions (
    id              TEXT    PRIMARY KEY,
    submitted_at_ms INTEGER NOT NULL,
    outcome         TEXT    NOT NULL CHECK (outcome IN ('delivered', 'failed')),
    receipt         TEXT    NOT NULL
  );
  CREATE INDEX submissions_at ON submissions (submitted_at_ms);
  `
];

/** The newest schema this code reads and writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

const KEEP_FILE =
  'The file was left as it is. Move it aside (keep it: it is the record of GPU hours) or restore it from a backup, then start again; without a file a new, empty ledger is created.';

/** Maps SQLite's error codes to what the operator should do. */
function explain(file: string, err: unknown, busyTimeoutMs: number): StartupError {
  if (err instanceof StartupError) {
    return err;
  }
  const code = String((err as { code?: unknown }).code ?? '');
  const message = (err as Error).message;
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    return new StartupError(`The GPU-hours ledger ${file} is not a readable SQLite database (${message}). ${KEEP_FILE}`);
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new StartupError(
      `The GPU-hours ledger ${file} stayed locked by another process for more than ${busyTimeoutMs / 1000} s. ` +
        'Is another gpu-workspace (or a sqlite3 shell) using the same --state-dir? Stop it, then start again.'
    );
  }
  if (code === 'SQLITE_FULL') {
    return new StartupError(`The disk holding the GPU-hours ledger ${file} is full. Free some space, then start again.`);
  }
  if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_CANTOPEN') || code === 'SQLITE_PERM' || code.startsWith('SQLITE_IOERR')) {
    return new StartupError(
      `Cannot write the GPU-hours ledger ${file} (${message}). ` +
        'The file and its folder must be writable by the user running gpu-workspace; fix the owner or permissions, then start again.'
    );
  }
  return new StartupError(`Cannot open the GPU-hours ledger ${file}: ${message}`);
}

function checkWritable(file: string): void {
  const dir = path.dirname(file);
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    // SQLite creates the -wal and -shm files beside the database, so the folder must be writable too.
    fs.accessSync(dir, fs.constants.W_OK);
    if (fs.existsSync(file)) {
      fs.accessSync(file, fs.constants.R_OK | fs.constants.W_OK);
    }
  } catch (err) {
    throw new StartupError(
      `Cannot write the GPU-hours ledger ${file}: ${(err as Error).message}. ` +
        'The file and its folder must be writable by the user running gpu-workspace; fix the owner or permissions, then start again.'
    );
  }
}

function migrate(db: Database, file: string): void {
  // IMMEDIATE takes the write lock before reading the version, so two processes
  // opening a new file at once cannot both run migration 1. It also proves at
  // start that this process can get the write lock at all.
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new StartupError(
        `The GPU-hours ledger ${file} has schema version ${version}, written by a newer gpu-workspace; ` +
          `this version knows up to ${SCHEMA_VERSION}. Run the newer gpu-workspace (or restore a backup made by this one). The file was left as it is.`
      );
    }
    for (let v = version; v < SCHEMA_VERSION; v++) {
      db.exec(MIGRATIONS[v]);
      db.pragma(`user_version = ${v + 1}`);
    }
  }).immediate();
}

/**
 * Opens (creating if needed) the ledger database, checks it and brings its
 * schema up to date. Any problem is a StartupError; the file is never reset.
 */
export function openDatabase(file: string, options: OpenOptions = {}): Database {
  const abs = path.resolve(file);
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  checkWritable(abs);
  const existed = fs.existsSync(abs);
  let db: Database | undefined;
  try {
    db = new BetterSqlite3(abs, { timeout: busyTimeoutMs });
    // Check before anything writes: switching to WAL rewrites the header of a damaged file.
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') {
      throw new StartupError(`The GPU-hours ledger ${abs} failed SQLite's integrity check: ${String(check)}. ${KEEP_FILE}`);
    }
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') {
      throw new StartupError(`The GPU-hours ledger ${abs} could not be switched to WAL mode (it stayed "${String(mode)}"). Is the folder on a network file system? Use a local disk.`);
    }
    // In WAL mode NORMAL loses no committed transaction when the process is killed;
    // only a power cut or OS crash can drop the last ones, and then at most a tick or two.
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    migrate(db, abs);
    if (!existed) {
      fs.chmodSync(abs, 0o600);
    }
    return db;
  } catch (err) {
    db?.close();
    throw explain(abs, err, busyTimeoutMs);
  }
}
