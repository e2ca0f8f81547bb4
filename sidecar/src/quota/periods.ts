/**
 * Quota periods: which stretch of time an allocation of GPU hours covers.
 * Pure functions of their arguments (no clock, no I/O), so the ledger and the
 * tests decide what "now" is.
 */

export type QuotaPeriod = { kind: 'total' } | { kind: 'day' } | { kind: 'week' } | { kind: 'rolling'; hours: number };

export interface QuotaWindow {
  /** First instant counted; null: everything ever counts. */
  startMs: number | null;
  /** When the allocation starts afresh; null: it never does. */
  nextResetMs: number | null;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const WEEK_MS = 7 * DAY_MS;
export const MAX_ROLLING_HOURS = 8760;

/** Parses "total", "day", "week" or "rolling:<N>h" (N whole hours, 1 to 8760). */
export function parsePeriod(s: string): QuotaPeriod {
  if (s === 'total' || s === 'day' || s === 'week') {
    return { kind: s };
  }
  const m = /^rolling:(\d+)h$/.exec(s);
  const hours = m ? Number(m[1]) : NaN;
  if (Number.isInteger(hours) && hours >= 1 && hours <= MAX_ROLLING_HOURS) {
    return { kind: 'rolling', hours };
  }
  throw new Error(
    `Invalid quota period ${JSON.stringify(s)}: use "total", "day", "week" or "rolling:<N>h" ` +
      `with N a whole number of hours from 1 to ${MAX_ROLLING_HOURS} (e.g. "rolling:24h").`
  );
}

/** The inverse of parsePeriod, for display and the API. */
export function formatPeriod(period: QuotaPeriod): string {
  return period.kind === 'rolling' ? `rolling:${period.hours}h` : period.kind;
}

/**
 * The window that contains `nowMs`. Day and week windows are fixed 24 h and
 * 7 × 24 h intervals counted from `anchorMs`, the operator's period start as an
 * instant (e.g. Monday 00:00 in their time zone); the anchor may lie in the
 * past or the future. Being fixed lengths, the windows do not follow daylight
 * saving changes: the reset moves by the hour on local clocks.
 */
export function quotaWindow(period: QuotaPeriod, anchorMs: number, nowMs: number): QuotaWindow {
  if (!Number.isFinite(nowMs)) {
    throw new Error(`quotaWindow: now must be a finite number of milliseconds, not ${nowMs}`);
  }
  switch (period.kind) {
    case 'total':
      return { startMs: null, nextResetMs: null };
    case 'rolling':
      return { startMs: nowMs - period.hours * HOUR_MS, nextResetMs: null };
    case 'day':
    case 'week': {
      if (!Number.isFinite(anchorMs)) {
        throw new Error(`quotaWindow: the period anchor must be a finite number of milliseconds, not ${anchorMs}`);
      }
      const length = period.kind === 'day' ? DAY_MS : WEEK_MS;
      // floor, not truncation, so an anchor after `now` still gives the window containing now.
      const startMs = anchorMs + Math.floor((nowMs - anchorMs) / length) * length;
      return { startMs, nextResetMs: startMs + length };
    }
  }
}

/** The quota keys of the config that its schema cannot check: the anchor is a date, the period parses. */
export function quotaConfigProblems(quota: { period: string; period_anchor: string }): string[] {
  const problems: string[] = [];
  if (Number.isNaN(Date.parse(quota.period_anchor))) {
    problems.push(`gpu.quota.period_anchor: "${quota.period_anchor}" is not an ISO 8601 date and time`);
  }
  try {
    parsePeriod(quota.period);
  } catch (err) {
    problems.push(`gpu.quota.period: ${(err as Error).message}`);
  }
  return problems;
}
