/**
 * One way to write a size, for the sidecar's messages and the UI alike: a
 * refusal that says "over its 3.00 GB cap" and the meter beside it must not
 * disagree on the same number.
 */

/** "1.23 GB", "640 kB": decimal units, as the cap ("3 GB") is stated, three significant digits. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = Math.max(0, bytes);
  let i = 0;
  while (value >= 1000 && i < units.length - 1) {
    value /= 1000;
    i++;
  }
  return i === 0 ? `${value} B` : `${value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : value.toFixed(0)} ${units[i]}`;
}
