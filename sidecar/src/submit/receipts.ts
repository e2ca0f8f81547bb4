import type { SubmissionReceipt } from '@jupyterlab-gpu-workspace/api';
import type { Database } from '../quota/db';

/**
 * Submission receipts, in the ledger's SQLite file (table `submissions`), so
 * they survive restarts. A receipt is written before its delivery starts
 * (as failed, "not delivered yet"), so a sidecar killed mid-delivery leaves a
 * receipt and its kept archive to retry, never an archive nobody knows of.
 */
export class ReceiptStore {
  private readonly stmt;

  constructor(db: Database) {
    this.stmt = {
      put: db.prepare<[string, number, string, string]>(
        `INSERT INTO submissions (id, submitted_at_ms, outcome, receipt) VALUES (?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET outcome = excluded.outcome, receipt = excluded.receipt`
      ),
      get: db.prepare<[string], { receipt: string }>('SELECT receipt FROM submissions WHERE id = ?'),
      list: db.prepare<[number], { receipt: string }>('SELECT receipt FROM submissions ORDER BY submitted_at_ms DESC, rowid DESC LIMIT ?')
    };
  }

  save(receipt: SubmissionReceipt): void {
    this.stmt.put.run(receipt.id, Date.parse(receipt.submitted_at), receipt.outcome, JSON.stringify(receipt));
  }

  get(id: string): SubmissionReceipt | null {
    const row = this.stmt.get.get(id);
    return row ? (JSON.parse(row.receipt) as SubmissionReceipt) : null;
  }

  /** Newest first. */
  list(limit = 200): SubmissionReceipt[] {
    return this.stmt.list.all(limit).map(row => JSON.parse(row.receipt) as SubmissionReceipt);
  }
}
