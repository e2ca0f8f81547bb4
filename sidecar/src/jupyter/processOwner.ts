import * as fs from 'node:fs';

/**
 * The real uid of a live process, read from /proc; null when there is no
 * such process (or it is a zombie, which holds nothing any more).
 */
export function processUid(pid: number): number | null {
  let status: string;
  try {
    status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  if (/^State:\s+Z/m.test(status)) {
    return null;
  }
  const match = /^Uid:\s+(\d+)/m.exec(status);
  return match ? Number(match[1]) : null;
}

/** Whether `pid` still runs (a zombie does not). */
export function processAlive(pid: number): boolean {
  return processUid(pid) !== null;
}
