import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StartupError } from '../errors';

export interface StateLock {
  release(): void;
}

/**
 * One sidecar per state directory. The lock is an exclusive SQLite lock on
 * `run/sidecar.lock` (an fcntl lock underneath): the kernel drops it when
 * the holder dies, even by SIGKILL, so a stale lock never blocks a restart and
 * no pid file has to be trusted to decide. The holder's pid is written beside
 * it only to name it in the refusal.
 */
export function lockStateDir(root: string): StateLock {
  const lockFile = path.join(root, 'run', 'sidecar.lock');
  const pidFile = path.join(root, 'run', 'sidecar.pid');
  let db: Database.Database;
  try {
    db = new Database(lockFile, { timeout: 0 });
    db.pragma('locking_mode = EXCLUSIVE');
    // In EXCLUSIVE locking mode the lock a write transaction takes is kept until the connection closes.
    db.exec('BEGIN EXCLUSIVE');
    db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER)');
    db.exec('DELETE FROM holder');
    db.prepare('INSERT INTO holder (pid) VALUES (?)').run(process.pid);
    db.exec('COMMIT');
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
      let holder = 'another process';
      try {
        const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
        if (Number.isInteger(pid) && pid > 0) {
          holder = `pid ${pid}`;
        }
      } catch {
        // No pid file yet: the other sidecar is starting right now.
      }
      throw new StartupError(
        `Another sidecar (${holder}) is already running on the state directory ${root}. ` +
          'Stop it first, or give this one a state directory of its own (--state-dir).'
      );
    }
    throw new StartupError(`Cannot lock the state directory ${root}: ${(err as Error).message}`);
  }
  fs.writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o600 });
  return {
    release: () => {
      try {
        fs.rmSync(pidFile, { force: true });
      } finally {
        db.close();
      }
    }
  };
}
