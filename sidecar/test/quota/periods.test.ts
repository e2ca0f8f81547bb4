/** Quota periods and their windows: pure functions, no clock and no files. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatPeriod, parsePeriod, quotaWindow } from '../../src/quota/periods';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
/** Monday 5 January 2026, 00:00 in Paris (UTC+1), as an instant. */
const MONDAY_PARIS = Date.parse('2026-01-05T00:00:00+01:00');

test('the operator can write the period as total, day, week or rolling:<N>h', () => {
  assert.deepEqual(parsePeriod('total'), { kind: 'total' });
  assert.deepEqual(parsePeriod('day'), { kind: 'day' });
  assert.deepEqual(parsePeriod('week'), { kind: 'week' });
  assert.deepEqual(parsePeriod('rolling:24h'), { kind: 'rolling', hours: 24 });
  assert.deepEqual(parsePeriod('rolling:1h'), { kind: 'rolling', hours: 1 });
  assert.deepEqual(parsePeriod('rolling:8760h'), { kind: 'rolling', hours: 8760 });
});

test('a period is written back the way the operator wrote it', () => {
  for (const text of ['total', 'day', 'week', 'rolling:72h']) {
    assert.equal(formatPeriod(parsePeriod(text)), text);
  }
});

test('an unknown period, or a rolling window outside 1 to 8760 whole hours, is refused with the accepted forms', () => {
  for (const bad of ['', 'month', 'Week', ' day', 'rolling', 'rolling:0h', 'rolling:8761h', 'rolling:1.5h', 'rolling:-2h', 'rolling:24', 'rolling:24h ']) {
    assert.throws(
      () => parsePeriod(bad),
      (err: unknown) => {
        assert.ok(err instanceof Error);
        assert.ok(err.message.startsWith(`Invalid quota period ${JSON.stringify(bad)}:`), err.message);
        assert.match(err.message, /"total", "day", "week" or "rolling:<N>h"/);
        assert.match(err.message, /1 to 8760/);
        return true;
      },
      `"${bad}" should be refused`
    );
  }
});

test('the "total" period has no start and never resets', () => {
  assert.deepEqual(quotaWindow({ kind: 'total' }, MONDAY_PARIS, MONDAY_PARIS + 123 * DAY), { startMs: null, nextResetMs: null });
});

test('a day period runs from the anchor time of day to the same time the next day', () => {
  const anchor = MONDAY_PARIS + 6 * HOUR; // resets at 06:00 Paris time
  const now = anchor + 10 * DAY + 3 * HOUR;
  assert.deepEqual(quotaWindow({ kind: 'day' }, anchor, now), { startMs: anchor + 10 * DAY, nextResetMs: anchor + 11 * DAY });
});

test('one millisecond before a day boundary is still the old day; at the boundary the new day starts', () => {
  const boundary = MONDAY_PARIS + 4 * DAY;
  assert.deepEqual(quotaWindow({ kind: 'day' }, MONDAY_PARIS, boundary - 1), { startMs: boundary - DAY, nextResetMs: boundary });
  assert.deepEqual(quotaWindow({ kind: 'day' }, MONDAY_PARIS, boundary), { startMs: boundary, nextResetMs: boundary + DAY });
});

test('a week period starts on the anchor weekday and resets seven days later', () => {
  const sunday = MONDAY_PARIS + 3 * WEEK + 6 * DAY + 23 * HOUR;
  assert.deepEqual(quotaWindow({ kind: 'week' }, MONDAY_PARIS, sunday), {
    startMs: MONDAY_PARIS + 3 * WEEK,
    nextResetMs: MONDAY_PARIS + 4 * WEEK
  });
  assert.equal(new Date(MONDAY_PARIS + 4 * WEEK).toISOString(), '2026-02-01T23:00:00.000Z'); // Monday 00:00 in Paris
});

test('one millisecond before a week boundary is still the old week', () => {
  const boundary = MONDAY_PARIS + 2 * WEEK;
  assert.equal(quotaWindow({ kind: 'week' }, MONDAY_PARIS, boundary - 1).startMs, MONDAY_PARIS + WEEK);
  assert.equal(quotaWindow({ kind: 'week' }, MONDAY_PARIS, boundary).startMs, boundary);
});

test('an anchor in the future gives the window that contains now', () => {
  const anchor = MONDAY_PARIS + 52 * WEEK;
  const now = MONDAY_PARIS + 2 * DAY;
  assert.deepEqual(quotaWindow({ kind: 'week' }, anchor, now), { startMs: MONDAY_PARIS, nextResetMs: MONDAY_PARIS + WEEK });
  assert.deepEqual(quotaWindow({ kind: 'day' }, anchor + 5 * HOUR, now), {
    startMs: MONDAY_PARIS + DAY + 5 * HOUR,
    nextResetMs: MONDAY_PARIS + 2 * DAY + 5 * HOUR
  });
  // Exactly at a future anchor's earlier boundary.
  assert.equal(quotaWindow({ kind: 'week' }, anchor, MONDAY_PARIS).startMs, MONDAY_PARIS);
});

test('a rolling window covers the last N hours and never resets', () => {
  const now = MONDAY_PARIS + 17 * HOUR + 123;
  assert.deepEqual(quotaWindow({ kind: 'rolling', hours: 24 }, MONDAY_PARIS, now), { startMs: now - DAY, nextResetMs: null });
});

test('a window cannot be computed for a time or anchor that is not a number', () => {
  assert.throws(() => quotaWindow({ kind: 'day' }, NaN, MONDAY_PARIS), /anchor/);
  assert.throws(() => quotaWindow({ kind: 'week' }, MONDAY_PARIS, NaN), /now/);
});
