import type { TranslationBundle } from '@jupyterlab/translation';
import type { IdleStatus, KeepAwakeLease } from '@jupyterlab-gpu-workspace/api';

/** "4:59", "1:02:03": a countdown as people read it (never negative). */
export function formatCountdown(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number): string => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

/** "3 min", "2 h 5 min", "40 s": a duration for lease ages and caps. */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  if (total < 60) {
    return `${total} s`;
  }
  const minutes = Math.floor(total / 60);
  if (minutes < 60) {
    return `${minutes} min`;
  }
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return m ? `${h} h ${m} min` : `${h} h`;
}

/** Milliseconds to the idle stop, or null when there is no deadline (held, stopped). */
export function msToStop(idle: IdleStatus, now: number): number | null {
  return idle.deadline === null ? null : Date.parse(idle.deadline) - now;
}

/** How long a lease has held, and how long until its cap. */
export function leaseTimes(lease: KeepAwakeLease, now: number): { ageMs: number; toCapMs: number } {
  return { ageMs: now - Date.parse(lease.started_at), toCapMs: Date.parse(lease.ends_at) - now };
}

/**
 * How often the page may tell the sidecar about input: often enough that a
 * short operator timeout is never missed, rarely enough to cost nothing.
 */
export function heartbeatIntervalMs(idle: IdleStatus): number {
  return Math.max(1000, Math.min(30_000, (idle.timeout_minutes * 60_000) / 4));
}

/** The leases (label, pid, age, time to the cap), or the idle policy when there are none. */
export function describeLeases(idle: IdleStatus, trans: TranslationBundle, now: number): string {
  if (!idle.leases.length) {
    return trans.__(
      'Nothing holds the workspace awake. It stops after %1 without input in this page; code can hold it awake with workspace_utils.keep_awake or active_session, or keep-awake -- COMMAND in a terminal.',
      formatDuration(idle.timeout_minutes * 60_000)
    );
  }
  return idle.leases
    .map(lease => {
      const { ageMs, toCapMs } = leaseTimes(lease, now);
      return trans.__('%1 — pid %2, running for %3, ends in %4 at the latest', lease.label, lease.pid, formatDuration(ageMs), formatDuration(toCapMs));
    })
    .join('\n');
}
