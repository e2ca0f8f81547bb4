import type { SubmitConversion, SubmitFile, SubmitItem, SubmitSkipped } from '@jupyterlab-gpu-workspace/api';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { globToRegExp } from '../glob';
import { conversionOutput, HomePattern, isWildcard, matchesName, parsePattern } from './patterns';

/** The names the archive's own manifest takes at its top; a home file of that name stays out. */
export const RESERVED_NAMES = ['MANIFEST.json', 'manifest.sha256'];

export interface ScanRequest {
  home: string;
  required: string[];
  conversions: Array<{ from: string; to: 'html' }>;
  /** home.exclude: names (globs) skipped wherever a wildcard or a folder's contents would take them. */
  exclude: string[];
}

export interface ScanResult {
  items: SubmitItem[];
  conversions: SubmitConversion[];
  /** The home's files the archive would carry (each once, sorted), without those a conversion's output replaces. */
  files: SubmitFile[];
  /** Everything left out, each once, with why. */
  skipped: SubmitSkipped[];
}

interface Found {
  files: Map<string, number>;
  skipped: Map<string, string>;
}

/**
 * Finds what the operator's manifest names in the home, never following a
 * symbolic link (a link is listed as skipped, with where it points). Run as
 * the notebook user where there is one, so "readable" means readable by
 * that user, and a folder swapped for a link mid-walk cannot lead root's
 * eyes anywhere.
 */
export class HomeMatcher {
  private readonly home: string;
  private readonly excluded: RegExp[];

  constructor(home: string, exclude: string[]) {
    this.home = path.resolve(home);
    this.excluded = exclude.map(globToRegExp);
  }

  async match(pattern: string): Promise<Found> {
    const found: Found = { files: new Map(), skipped: new Map() };
    await this.walk(this.home, '', parsePattern(pattern), 0, found);
    // A readable file only: what the archive could not read must not count as present.
    for (const rel of [...found.files.keys()]) {
      try {
        await fs.promises.access(path.join(this.home, rel), fs.constants.R_OK);
      } catch {
        found.files.delete(rel);
        found.skipped.set(rel, 'cannot be read (permission denied)');
      }
    }
    return found;
  }

  private isExcluded(name: string): boolean {
    return this.excluded.some(re => re.test(name));
  }

  private async list(abs: string, rel: string, found: Found): Promise<fs.Dirent[]> {
    try {
      return await fs.promises.readdir(abs, { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') {
        found.skipped.set(rel || '.', 'folder cannot be read (permission denied)');
      }
      return [];
    }
  }

  private async lstat(abs: string): Promise<fs.Stats | null> {
    try {
      return await fs.promises.lstat(abs);
    } catch {
      return null;
    }
  }

  private async walk(dirAbs: string, dirRel: string, parts: HomePattern, i: number, found: Found): Promise<void> {
    const part = parts[i];
    const last = i === parts.length - 1;
    const join = (name: string): string => (dirRel ? `${dirRel}/${name}` : name);
    if (part === '**') {
      if (last) {
        await this.addTree(dirAbs, dirRel, true, found);
        return;
      }
      // "**" stands for no folder at all, or for any folder below (links and dot-folders aside).
      await this.walk(dirAbs, dirRel, parts, i + 1, found);
      for (const entry of await this.list(dirAbs, dirRel, found)) {
        if (!matchesName('*', entry.name) || this.isExcluded(entry.name)) {
          continue;
        }
        const abs = path.join(dirAbs, entry.name);
        if (entry.isDirectory()) {
          await this.walk(abs, join(entry.name), parts, i, found);
        } else if (entry.isSymbolicLink() && (await this.pointsToFolder(abs))) {
          // Not descended into, but said: a data folder linked from elsewhere would otherwise vanish without a word.
          found.skipped.set(join(entry.name), await this.linkReason(abs));
        }
      }
      return;
    }
    const names = isWildcard(part)
      ? (await this.list(dirAbs, dirRel, found)).map(e => e.name).filter(name => matchesName(part, name) && !this.isExcluded(name))
      : [part];
    for (const name of names.sort()) {
      const abs = path.join(dirAbs, name);
      const rel = join(name);
      const st = await this.lstat(abs);
      if (!st) {
        continue;
      }
      if (st.isSymbolicLink()) {
        found.skipped.set(rel, await this.linkReason(abs));
      } else if (st.isDirectory()) {
        if (last) {
          await this.addTree(abs, rel, false, found);
        } else {
          await this.walk(abs, rel, parts, i + 1, found);
        }
      } else if (!last) {
        continue;
      } else if (st.isFile()) {
        found.files.set(rel, st.size);
      } else {
        found.skipped.set(rel, 'not a regular file');
      }
    }
  }

  /** Every file below a folder; `hideDots` for a "**" (wildcards skip dot-names), not for a folder named outright. */
  private async addTree(dirAbs: string, dirRel: string, hideDots: boolean, found: Found): Promise<void> {
    for (const entry of await this.list(dirAbs, dirRel, found)) {
      if (this.isExcluded(entry.name) || (hideDots && entry.name.startsWith('.'))) {
        continue;
      }
      const abs = path.join(dirAbs, entry.name);
      const rel = dirRel ? `${dirRel}/${entry.name}` : entry.name;
      if (entry.isSymbolicLink()) {
        found.skipped.set(rel, await this.linkReason(abs));
      } else if (entry.isDirectory()) {
        await this.addTree(abs, rel, hideDots, found);
      } else if (entry.isFile()) {
        const st = await this.lstat(abs);
        if (st?.isFile()) {
          found.files.set(rel, st.size);
        }
      } else {
        found.skipped.set(rel, 'not a regular file');
      }
    }
  }

  private async pointsToFolder(abs: string): Promise<boolean> {
    try {
      return (await fs.promises.stat(abs)).isDirectory();
    } catch {
      return false;
    }
  }

  /** Says where a link points, and that it is not followed. */
  private async linkReason(abs: string): Promise<string> {
    let target: string;
    try {
      target = await fs.promises.readlink(abs);
    } catch {
      return 'a symbolic link: links are not followed';
    }
    const resolved = path.resolve(path.dirname(abs), target);
    const inside = resolved === this.home || resolved.startsWith(this.home + path.sep);
    return inside
      ? `a symbolic link (to "${path.relative(this.home, resolved)}"): links are not followed; name the file itself`
      : `a symbolic link to "${target}", outside the home folder: not followed`;
  }
}

/** The checklist's facts: what each required entry and each conversion finds in the home. */
export async function scanSubmission(req: ScanRequest): Promise<ScanResult> {
  const matcher = new HomeMatcher(req.home, req.exclude);
  const files = new Map<string, number>();
  const skipped = new Map<string, string>();
  const items: SubmitItem[] = [];
  for (const pattern of req.required) {
    const found = await matcher.match(pattern);
    const mine: SubmitFile[] = [];
    const mySkipped: SubmitSkipped[] = [];
    for (const [rel, bytes] of found.files) {
      if (!rel.includes('/') && RESERVED_NAMES.includes(rel)) {
        found.skipped.set(rel, `"${rel}" is the name of the archive's own manifest: rename the file`);
        continue;
      }
      mine.push({ path: rel, bytes });
      files.set(rel, bytes);
    }
    for (const [rel, reason] of found.skipped) {
      mySkipped.push({ path: rel, reason });
      skipped.set(rel, reason);
    }
    items.push({ path: pattern, present: mine.length > 0, files: mine.sort(byPath), skipped: mySkipped.sort(byPath) });
  }
  const conversions: SubmitConversion[] = [];
  for (const conversion of req.conversions) {
    const found = await matcher.match(conversion.from);
    const sources = [...found.files.keys()].sort();
    for (const [rel, reason] of found.skipped) {
      skipped.set(rel, reason);
    }
    const outputs = sources.map(s => conversionOutput(s, conversion.to));
    for (const out of outputs) {
      // The conversion's fresh output goes into the archive instead of a file of the same name in the home.
      if (files.delete(out)) {
        skipped.set(out, `replaced in the archive by the conversion of ${sources[outputs.indexOf(out)]}`);
      }
    }
    conversions.push({ from: conversion.from, to: conversion.to, sources, outputs, ready: sources.length > 0 });
  }
  for (const rel of files.keys()) {
    skipped.delete(rel);
  }
  return {
    items,
    conversions,
    files: [...files].map(([p, bytes]) => ({ path: p, bytes })).sort(byPath),
    skipped: [...skipped].map(([p, reason]) => ({ path: p, reason })).sort(byPath)
  };
}

function byPath(a: { path: string }, b: { path: string }): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}
