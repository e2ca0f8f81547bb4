import { TranslationBundle } from '@jupyterlab/translation';

/** "7h 32m", "45m", "0m": what a person reads at a glance. */
export function formatDuration(seconds: number, trans: TranslationBundle): string {
  const total = Math.max(0, Math.floor(seconds / 60));
  const hours = Math.floor(total / 60);
  const minutes = total % 60;
  return hours > 0 ? trans.__('%1h %2m', hours, minutes) : trans.__('%1m', minutes);
}

/** "Tue 14:00" for an instant within a week, else a date. */
export function formatWhen(ms: number, now = Date.now()): string {
  const date = new Date(ms);
  const withinWeek = ms - now < 6 * 24 * 3600 * 1000;
  return withinWeek
    ? date.toLocaleString(undefined, { weekday: 'short', hour: '2-digit', minute: '2-digit' })
    : date.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

/** Remaining seconds now, counting down locally between status polls while GPU time burns. */
export function remainingNow(remaining: number, burnRate: number, receivedAt: number, now = Date.now()): number {
  return Math.max(0, remaining - (burnRate * Math.max(0, now - receivedAt)) / 1000);
}

/** The one size formatter, shared with the sidecar's messages. */
export { formatBytes } from '@jupyterlab-gpu-workspace/api';

/** The usage level the meter shows: warning from 90 % of the cap, over above it. */
export function usageLevel(used: number, cap: number): 'ok' | 'warning' | 'over' {
  if (used > cap) {
    return 'over';
  }
  return used >= 0.9 * cap ? 'warning' : 'ok';
}
