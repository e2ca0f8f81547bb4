/**
 * The GPU-hours ledger: metering sessions, operator grants, quota summaries,
 * the audit log and a little persistent state, in one SQLite file.
 *
 * Metering is crash-safe by construction: each tick is one transaction that
 * appends a usage row and advances the session, so a killed sidecar loses at
 * most the time since its last tick and never charges time twice.
 *
 * Durations come only from the monotonic clock; the wall clock only stamps
 * rows, to attribute them to quota periods. A wall-clock jump (NTP, a VM
 * resumed, an operator fixing the date) thus neither bills nor refunds time.
 */
import type { GrantRecord, QuotaStatus } from '@jupyterlab-gpu-workspace/api';
import { performance } from 'node:perf_hooks';
import type { Database } from './db';
import { badRequest, conflict } from '../errors';
import { QuotaPeriod, formatPeriod, quotaWindow } from './periods';

export interface Clock {
  /** Milliseconds since the epoch; may jump. Stamps rows. */
  wallMs(): number;
  /** Milliseconds from an arbitrary origin, never going back. Measures durations. */
  monoMs(): number;
}

export const systemClock: Clock = {
  wallMs: () => Date.now(),
  monoMs: () => performance.now()
};

export interface CurrentSession {
  id: number;
  profile: string;
  weight: number;
  started_at_ms: number;
  charged_seconds: number;
}

export interface SessionRecord extends CurrentSession {
  actor: string;
  last_tick_wall_ms: number;
  /** null while the session is open. */
  ended_at_ms: number | null;
  end_reason: string | null;
}

export type Grant = GrantRecord;

export interface AuditEntry {
  id: number;
  at_ms: number;
  actor: string;
  action: string;
  detail: unknown;
}

export interface QuotaPolicy {
  /** Hours allotted per period (before grants). */
  hours: number;
  period: QuotaPeriod;
  /** Start of a day/week period as an instant; ignored by the other kinds. */
  anchorMs: number;
}

/** What the ledger knows of the quota; the API's QuotaStatus adds the live burn rate and warnings. */
export type QuotaSummary = Omit<QuotaStatus, 'burn_rate' | 'warn_minutes'>;

export const MAX_GRANT_HOURS = 10_000;
export const MAX_REASON_CHARS = 500;
const MAX_ACTOR_CHARS = 200;
const MAX_AUDIT_LIMIT = 10_000;

/** Checks a grant's hours and reason (also used by the CLI before it opens the ledger). */
export function validateGrant(hours: unknown, reason: unknown): { hours: number; reason: string } {
  if (typeof hours !== 'number' || !Number.isFinite(hours) || hours <= 0 || hours > MAX_GRANT_HOURS) {
    throw badRequest(`Granted hours must be a number greater than 0 and at most ${MAX_GRANT_HOURS}, not ${JSON.stringify(hours) ?? String(hours)}.`);
  }
  return { hours, reason: requireText('reason', reason, MAX_REASON_CHARS) };
}

function requireText(name: string, value: unknown, maxChars: number): string {
  const text = typeof value === 'string' ? value.trim() : '';
  if (!text) {
    throw badRequest(`The ${name} must be a non-empty text.`);
  }
  if (text.length > maxChars) {
    throw badRequest(`The ${name} must be at most ${maxChars} characters (it has ${text.length}).`);
  }
  return text;
}

/** Bounds that stand for "no limit" in range queries (Date's own range). */
const EARLIEST_MS = -8.64e15;
const LATEST_MS = 8.64e15;

type SessionRow = SessionRecord;

/** Prepared once per Ledger: ticks run for as long as GPU mode is on, so each must stay cheap. */
function prepareStatements(db: Database) {
  return {
    openRow: db.prepare<[], SessionRow>('SELECT * FROM sessions WHERE ended_at_ms IS NULL'),
    insertSession: db.prepare<[string, number, string, number, number]>(
      'INSERT INTO sessions (profile, weight, actor, started_at_ms, last_tick_wall_ms) VALUES (?, ?, ?, ?, ?)'
    ),
    advanceSession: db.prepare<[number, number, number]>(
      'UPDATE sessions SET last_tick_wall_ms = ?, charged_seconds = charged_seconds + ? WHERE id = ? AND ended_at_ms IS NULL'
    ),
    insertUsage: db.prepare<[number, number, number, number]>(
      'INSERT INTO usage (session_id, at_wall_ms, seconds_raw, seconds_charged) VALUES (?, ?, ?, ?)'
    ),
    endSession: db.prepare<[string, number]>('UPDATE sessions SET ended_at_ms = last_tick_wall_ms, end_reason = ? WHERE id = ?'),
    session: db.prepare<[number], SessionRow>('SELECT * FROM sessions WHERE id = ?'),
    sessionsSince: db.prepare<[number], SessionRow>(
      'SELECT * FROM sessions WHERE ended_at_ms IS NULL OR ended_at_ms >= ? ORDER BY started_at_ms DESC, id DESC'
    ),
    insertGrant: db.prepare<[number, number, string, string]>('INSERT INTO grants (granted_at_ms, hours, reason, actor) VALUES (?, ?, ?, ?)'),
    grant: db.prepare<[number], Grant>('SELECT id, hours, reason, actor, granted_at_ms FROM grants WHERE id = ?'),
    grantsSince: db.prepare<[number], Grant>(
      'SELECT id, hours, reason, actor, granted_at_ms FROM grants WHERE granted_at_ms >= ? ORDER BY granted_at_ms DESC, id DESC'
    ),
    grantedHours: db.prepare<[number, number], { hours: number }>(
      'SELECT COALESCE(SUM(hours), 0) AS hours FROM grants WHERE granted_at_ms >= ? AND granted_at_ms < ?'
    ),
    usedSeconds: db.prepare<[number, number], { seconds: number }>(
      'SELECT COALESCE(SUM(seconds_charged), 0) AS seconds FROM usage WHERE at_wall_ms >= ? AND at_wall_ms < ?'
    ),
    insertAudit: db.prepare<[number, string, string, string]>('INSERT INTO audit (at_ms, actor, action, detail) VALUES (?, ?, ?, ?)'),
    auditLog: db.prepare<[number], { id: number; at_ms: number; actor: string; action: string; detail: string }>(
      'SELECT id, at_ms, actor, action, detail FROM audit ORDER BY id DESC LIMIT ?'
    ),
    getState: db.prepare<[string], { value: string }>('SELECT value FROM state WHERE key = ?'),
    setState: db.prepare<[string, string, number]>(
      'INSERT INTO state (key, value, updated_at_ms) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at_ms = excluded.updated_at_ms'
    )
  };
}

type Statements = ReturnType<typeof prepareStatements>;
type OpenInfo = { id: number; weight: number; lastMono: number };

export class Ledger {
  /** The session this process opened; its monotonic origin lives only in memory. */
  private open: OpenInfo | null = null;
  private readonly stmt: Statements;
  private readonly tickTx: (id: number, wallMs: number, raw: number, charged: number) => boolean;

  constructor(
    private readonly db: Database,
    private readonly clock: Clock = systemClock
  ) {
    this.stmt = prepareStatements(db);
    this.tickTx = db.transaction((id: number, wallMs: number, raw: number, charged: number): boolean => {
      // Advance first: if someone else closed the session, nothing is written.
      if (this.stmt.advanceSession.run(wallMs, charged, id).changes === 0) {
        return false;
      }
      this.stmt.insertUsage.run(id, wallMs, raw, charged);
      return true;
    }).immediate;
  }

  private wallNow(): number {
    return Math.floor(this.clock.wallMs());
  }

  /** Starts metering a GPU session. Only one may be open at a time (409). */
  openSession({ profile, weight, actor }: { profile: string; weight: number; actor: string }): number {
    const cleanProfile = requireText('profile', profile, MAX_ACTOR_CHARS);
    const cleanActor = requireText('actor', actor, MAX_ACTOR_CHARS);
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0) {
      throw badRequest(`The GPU weight must be a number greater than 0 (1 for a whole GPU, 0.5 for half), not ${JSON.stringify(weight) ?? String(weight)}.`);
    }
    const mono = this.clock.monoMs();
    const wall = this.wallNow();
    let id: number;
    try {
      id = this.db.transaction((): number => {
        const existing = this.stmt.openRow.get();
        if (existing) {
          throw conflict(`A GPU session is already open (#${existing.id}, profile "${existing.profile}"); close it first.`);
        }
        const newId = Number(this.stmt.insertSession.run(cleanProfile, weight, cleanActor, wall, wall).lastInsertRowid);
        this.insertAudit(wall, cleanActor, 'gpu.on', { session_id: newId, profile: cleanProfile, weight });
        return newId;
      }).immediate();
    } catch (err) {
      if ((err as { code?: unknown }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        throw conflict('A GPU session is already open; close it first.');
      }
      throw err;
    }
    this.open = { id, weight, lastMono: mono };
    return id;
  }

  /**
   * Charges the monotonic time since the last tick (or the start) × weight,
   * capped at `maxChargeSeconds` (e.g. after the event loop stalled), as one
   * usage row. Returns the seconds charged; 0 without an open session.
   */
  tick(maxChargeSeconds?: number): number {
    const open = this.open;
    if (!open) {
      return 0;
    }
    if (maxChargeSeconds !== undefined && Number.isNaN(maxChargeSeconds)) {
      throw new Error('tick: maxChargeSeconds must be a number, not NaN');
    }
    const mono = this.clock.monoMs();
    const raw = Math.max(0, mono - open.lastMono) / 1000;
    let charged = raw * open.weight;
    if (maxChargeSeconds !== undefined) {
      charged = Math.min(charged, Math.max(0, maxChargeSeconds));
    }
    // If the write throws, lastMono stays put and the next tick charges this interval too.
    if (!this.tickTx(open.id, this.wallNow(), raw, charged)) {
      this.open = null;
      return 0;
    }
    open.lastMono = mono;
    return charged;
  }

  /**
   * Starts counting the open session's time afresh from now, without charging
   * the time since the last tick: the meter calls it when Jupyter runs again
   * after a restart or a crash, during which nothing could use the GPU.
   */
  skipToNow(): void {
    if (this.open) {
      this.open.lastMono = this.clock.monoMs();
    }
  }

  /** A final tick, then closes the open session (409 if none). */
  closeSession({ actor, reason, maxChargeSeconds }: { actor: string; reason: string; maxChargeSeconds?: number }): void {
    const cleanActor = requireText('actor', actor, MAX_ACTOR_CHARS);
    const cleanReason = requireText('reason', reason, MAX_REASON_CHARS);
    this.tick(maxChargeSeconds);
    this.db.transaction(() => {
      const row = this.stmt.openRow.get();
      if (!row) {
        throw conflict('No GPU session is open.');
      }
      this.endSession(row, cleanActor, cleanReason);
    }).immediate();
    this.open = null;
  }

  /**
   * Closes sessions left open by a sidecar that was killed, at their last
   * written tick: the time after it is not charged (at most one tick is lost).
   * Call at start, before opening a session.
   */
  recoverAfterCrash(): { closed: number } {
    const mine = this.open?.id;
    return this.db.transaction(() => {
      const row = this.stmt.openRow.get();
      if (!row || row.id === mine) {
        return { closed: 0 };
      }
      this.endSession(row, 'system', 'recovered after the sidecar stopped without closing the session');
      return { closed: 1 };
    }).immediate();
  }

  private endSession(row: SessionRow, actor: string, reason: string): void {
    this.stmt.endSession.run(reason, row.id);
    const ended = this.stmt.session.get(row.id) as SessionRow;
    this.insertAudit(this.wallNow(), actor, 'gpu.off', {
      session_id: row.id,
      reason,
      charged_seconds: ended.charged_seconds,
      ended_at_ms: ended.ended_at_ms
    });
  }

  /** The open session, whether this process opened it or a killed one left it. */
  currentSession(): CurrentSession | null {
    const row = this.stmt.openRow.get();
    return row ? pickCurrent(row) : null;
  }

  /** Adds hours to the allocation of the period the grant falls in (all periods for "total"). */
  grant({ hours, reason, actor }: { hours: number; reason: string; actor: string }): Grant {
    const valid = validateGrant(hours, reason);
    const cleanActor = requireText('actor', actor, MAX_ACTOR_CHARS);
    const wall = this.wallNow();
    return this.db.transaction((): Grant => {
      const id = Number(this.stmt.insertGrant.run(wall, valid.hours, valid.reason, cleanActor).lastInsertRowid);
      this.insertAudit(wall, cleanActor, 'quota.grant', { grant_id: id, hours: valid.hours, reason: valid.reason });
      return this.stmt.grant.get(id) as Grant;
    }).immediate();
  }

  /**
   * Allocation, use and what remains in the window containing now. Usage and
   * grants count by the wall time they were stamped with.
   */
  summary(policy: QuotaPolicy): QuotaSummary {
    if (typeof policy.hours !== 'number' || !Number.isFinite(policy.hours) || policy.hours < 0) {
      throw new Error(`summary: the policy's hours must be a number ≥ 0, not ${policy.hours}`);
    }
    const window = quotaWindow(policy.period, policy.anchorMs, this.clock.wallMs());
    const from = window.startMs ?? EARLIEST_MS;
    const to = window.nextResetMs ?? LATEST_MS;
    const grantedSeconds = (this.stmt.grantedHours.get(from, to) as { hours: number }).hours * 3600;
    const used = (this.stmt.usedSeconds.get(from, to) as { seconds: number }).seconds;
    const allocation = policy.hours * 3600 + grantedSeconds;
    return {
      allocation_seconds: allocation,
      used_seconds: used,
      remaining_seconds: Math.max(0, allocation - used),
      granted_seconds: grantedSeconds,
      period: formatPeriod(policy.period),
      window_start: window.startMs === null ? null : new Date(window.startMs).toISOString(),
      next_reset: window.nextResetMs === null ? null : new Date(window.nextResetMs).toISOString()
    };
  }

  /** Sessions open at or after `sinceMs` (null: all), newest first. */
  sessions(sinceMs: number | null): SessionRecord[] {
    return this.stmt.sessionsSince.all(sinceMs ?? EARLIEST_MS);
  }

  /** Grants made at or after `sinceMs` (null: all), newest first. */
  grants(sinceMs: number | null): Grant[] {
    return this.stmt.grantsSince.all(sinceMs ?? EARLIEST_MS);
  }

  /** Records an action (toggle, reset, submit, idle stop...) in the audit table. */
  audit(actor: string, action: string, detail: object): void {
    this.insertAudit(this.wallNow(), requireText('actor', actor, MAX_ACTOR_CHARS), requireText('action', action, MAX_ACTOR_CHARS), detail);
  }

  private insertAudit(atMs: number, actor: string, action: string, detail: object): void {
    this.stmt.insertAudit.run(atMs, actor, action, JSON.stringify(detail));
  }

  /** The latest audit entries, newest first. */
  auditLog(limit = 100): AuditEntry[] {
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT_LIMIT) {
      throw badRequest(`The audit log limit must be a whole number from 1 to ${MAX_AUDIT_LIMIT}, not ${limit}.`);
    }
    return this.stmt.auditLog.all(limit).map(row => ({ ...row, detail: JSON.parse(row.detail) as unknown }));
  }

  getState(key: string): string | null {
    return this.stmt.getState.get(key)?.value ?? null;
  }

  setState(key: string, value: string): void {
    this.stmt.setState.run(key, value, this.wallNow());
  }
}

function pickCurrent(row: SessionRow): CurrentSession {
  return {
    id: row.id,
    profile: row.profile,
    weight: row.weight,
    started_at_ms: row.started_at_ms,
    charged_seconds: row.charged_seconds
  };
}
