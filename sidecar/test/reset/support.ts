/**
 * Helpers for the reset tests: a listing of a tree that tells two homes apart
 * by content, mode and links (the "exact files" check), the journal and the
 * audit rows as the sidecar wrote them, and the API calls.
 */
import BetterSqlite3 from 'better-sqlite3';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ResetStatusResponse } from '@jupyterlab-gpu-workspace/api';
import { fetchJson, JsonResponse, Sidecar, tokenHeader } from '../support/sidecar';

/** The default home.exclude: names the reset keeps and snapshots leave out. */
export const DEFAULT_EXCLUDES = ['.cache', '__pycache__', '.ipynb_checkpoints', '.Trash-*'];

function globRegExp(glob: string): RegExp {
  return new RegExp('^' + glob.replace(/[.+^${}()|\\]/g, c => `\\${c}`).replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]') + '$');
}

/**
 * Every entry under `root` as "path → kind, mode, content hash or link
 * target" (owners left out; `withOwners` adds them), names matching
 * `excludes` left out at any depth, sorted: equal listings mean the same files.
 */
export function listing(root: string, options: { excludes?: string[]; withOwners?: boolean } = {}): string[] {
  const skip = (options.excludes ?? []).map(globRegExp);
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of fs.readdirSync(dir).sort()) {
      if (skip.some(r => r.test(name))) {
        continue;
      }
      const abs = path.join(dir, name);
      const rel = path.relative(root, abs);
      const st = fs.lstatSync(abs);
      const mode = (st.mode & 0o7777).toString(8);
      const owner = options.withOwners ? ` ${st.uid}:${st.gid}` : '';
      if (st.isDirectory()) {
        out.push(`${rel}/ dir ${mode}${owner}`);
        walk(abs);
      } else if (st.isSymbolicLink()) {
        out.push(`${rel} -> ${fs.readlinkSync(abs)}${owner}`);
      } else {
        out.push(`${rel} file ${mode} ${createHash('sha256').update(fs.readFileSync(abs)).digest('hex')}${owner}`);
      }
    }
  };
  walk(root);
  return out;
}

/** Writes a file (and its folders) under `root`. */
export function write(root: string, rel: string, content: string | Buffer, mode?: number): void {
  const abs = path.join(root, rel);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  fs.writeFileSync(abs, content);
  if (mode !== undefined) {
    fs.chmodSync(abs, mode);
  }
}

/** A small home with the kinds of entry a course hands out: notebooks, data, a script, a link, an empty folder. */
export function courseHome(root: string): void {
  write(root, 'README.md', '# Course\nStart with notebooks/lesson1.ipynb\n');
  write(root, 'notebooks/lesson1.ipynb', '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}');
  write(root, 'data/table.csv', 'a,b\n1,2\n');
  write(root, 'run.sh', '#!/bin/sh\necho run\n', 0o755);
  fs.mkdirSync(path.join(root, 'empty'));
  fs.symlinkSync('notebooks/lesson1.ipynb', path.join(root, 'start-here.ipynb'));
}

/** What a user does to the home over a few weeks: edits, new files, deletions, caches. */
export function userWork(root: string): void {
  write(root, 'notebooks/lesson1.ipynb', '{"cells": [{"cell_type": "code", "source": "x = 1", "metadata": {}, "outputs": [], "execution_count": 1}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}');
  write(root, 'my-work/results.txt', 'accuracy 0.93\n');
  fs.rmSync(path.join(root, 'README.md'), { force: true });
  write(root, '.cache/pip/wheel.bin', Buffer.alloc(1000, 7));
}

export function readJournal(stateDir: string): Record<string, unknown> | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(stateDir, 'reset', 'journal.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** Audit rows of one action, oldest first, with their detail parsed. */
export function auditRows(stateDir: string, action: string): Array<{ actor: string; detail: Record<string, unknown> }> {
  const db = new BetterSqlite3(path.join(stateDir, 'ledger.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT actor, detail FROM audit WHERE action = ? ORDER BY id').all(action) as Array<{ actor: string; detail: string }>;
    return rows.map(r => ({ actor: r.actor, detail: JSON.parse(r.detail) as Record<string, unknown> }));
  } finally {
    db.close();
  }
}

/** POST with a JSON body (or a raw string as it is); the reset may take a while on a busy machine. */
export function post<T>(sidecar: Sidecar, route: string, body: unknown, raw = false): Promise<JsonResponse<T>> {
  return fetchJson<T>(sidecar.apiUrl(route), {
    method: 'POST',
    headers: { ...tokenHeader(sidecar), 'content-type': 'application/json' },
    body: raw ? (body as string) : JSON.stringify(body),
    signal: AbortSignal.timeout(180_000)
  });
}

export function get<T>(sidecar: Sidecar, route: string): Promise<JsonResponse<T>> {
  return fetchJson<T>(sidecar.apiUrl(route), { headers: tokenHeader(sidecar) });
}

export async function resetStatus(sidecar: Sidecar): Promise<ResetStatusResponse> {
  const res = await get<ResetStatusResponse>(sidecar, 'reset');
  if (res.status !== 200) {
    throw new Error(`GET reset answered ${res.status}: ${JSON.stringify(res.body)}`);
  }
  return res.body;
}
