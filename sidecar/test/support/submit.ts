/**
 * Test helpers for Submit Project: notebooks and files in a home, unzipping
 * and hashing a delivered archive (the `unzip` program), a real HTTP
 * receiver for multipart deliveries, and the audit rows in the ledger.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import BetterSqlite3 from 'better-sqlite3';
import type { SubmissionReceipt } from '@jupyterlab-gpu-workspace/api';
import { ledgerPath } from '../../src/quota/db';

/** A small valid notebook (nbformat 4.5) whose markdown cell says `heading`. */
export function notebook(heading: string): string {
  return JSON.stringify({
    cells: [
      { cell_type: 'markdown', id: 'c1', metadata: {}, source: [`# ${heading}`] },
      { cell_type: 'code', id: 'c2', metadata: {}, execution_count: null, outputs: [], source: ['print(6 * 7)'] }
    ],
    metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' } },
    nbformat: 4,
    nbformat_minor: 5
  });
}

/** Writes a file in the home (folders made on the way), owned by `owner` when given (the notebook user). */
export function writeHomeFile(home: string, rel: string, content: string | Buffer, owner?: { uid: number; gid: number }): void {
  const abs = path.join(home, rel);
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  fs.writeFileSync(abs, content);
  if (owner) {
    for (let p = abs; p !== home && p.startsWith(home); p = path.dirname(p)) {
      fs.lchownSync(p, owner.uid, owner.gid);
    }
  }
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Unzips an archive into a fresh folder (the real `unzip`) and hashes every file in it, by path. */
export function unzipAndHash(zip: string, into: string): Map<string, { sha256: string; bytes: number }> {
  fs.rmSync(into, { recursive: true, force: true });
  fs.mkdirSync(into, { recursive: true });
  execFileSync('unzip', ['-q', zip, '-d', into]);
  const out = new Map<string, { sha256: string; bytes: number }>();
  for (const rel of fs.readdirSync(into, { recursive: true }) as string[]) {
    const abs = path.join(into, rel);
    if (fs.lstatSync(abs).isFile()) {
      const data = fs.readFileSync(abs);
      out.set(rel.split(path.sep).join('/'), { sha256: sha256(data), bytes: data.length });
    }
  }
  return out;
}

/** The receipt's files as path → {sha256, bytes}, to compare with what unzipAndHash found. */
export function receiptSums(receipt: SubmissionReceipt): Map<string, { sha256: string; bytes: number }> {
  return new Map(receipt.files.map(f => [f.path, { sha256: f.sha256, bytes: f.bytes }]));
}

export interface ReceivedPost {
  authorization: string | undefined;
  contentType: string | undefined;
  submissionId: string | undefined;
  archive: { name: string; type: string; data: Buffer } | null;
  manifest: unknown;
}

export interface Receiver {
  port: number;
  url: string;
  received: ReceivedPost[];
  /** The status the receiver answers with (201 by default). */
  answer: { status: number; body: string };
  listen(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A real HTTP endpoint that takes multipart/form-data POSTs and keeps what
 * came (parsed by the platform's own FormData, as a server would). It does
 * not listen until `listen()`, so a test can start with an unreachable URL.
 */
export function makeReceiver(port: number): Receiver {
  const received: ReceivedPost[] = [];
  const answer = { status: 201, body: '{"stored": true}' };
  const server = http.createServer((req, res) => {
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) {
      if (typeof v === 'string') headers.set(k, v);
    }
    const body = Readable.toWeb(req) as ReadableStream<Uint8Array>;
    new Response(body, { headers })
      .formData()
      .then(async form => {
        const archive = form.get('archive');
        const manifest = form.get('manifest');
        received.push({
          authorization: req.headers.authorization,
          contentType: req.headers['content-type'],
          submissionId: req.headers['x-submission-id'] as string | undefined,
          archive: archive instanceof File ? { name: archive.name, type: archive.type, data: Buffer.from(await archive.arrayBuffer()) } : null,
          manifest: manifest instanceof File ? (JSON.parse(await manifest.text()) as unknown) : null
        });
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
      })
      .catch((err: Error) => res.writeHead(400).end(err.message));
  });
  return {
    port,
    url: `http://127.0.0.1:${port}/hand-in`,
    received,
    answer,
    listen: () => new Promise((resolve, reject) => (server.listening ? resolve() : server.once('error', reject).listen(port, '127.0.0.1', () => resolve()))),
    close: () => new Promise(resolve => (server.listening ? server.close(() => resolve()) : resolve()))
  };
}

/** The ledger's audit rows of an action, oldest first (read-only, beside the running sidecar). */
export function auditRows(stateDir: string, action: string): Array<{ actor: string; detail: Record<string, unknown> }> {
  const db = new BetterSqlite3(ledgerPath(stateDir), { readonly: true });
  try {
    return db
      .prepare<[string], { actor: string; detail: string }>('SELECT actor, detail FROM audit WHERE action = ? ORDER BY id')
      .all(action)
      .map(r => ({ actor: r.actor, detail: JSON.parse(r.detail) as Record<string, unknown> }));
  } finally {
    db.close();
  }
}
