import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import type { SubmissionListResponse, SubmissionReceipt } from '@jupyterlab-gpu-workspace/api';
import { formatBytes } from '../format';
import { SubmitClient } from '../api/submit';
import { el } from '../dom';
import { button, destinationText, mark, phaseText } from './submitChecklist';

/** One receipt as a row of the history: outcome in words, files and sums behind a disclosure, Retry when it failed. */
export function receiptNode(r: SubmissionReceipt, trans: TranslationBundle, retry: (r: SubmissionReceipt) => void): HTMLElement {
  const t = trans;
  const item = el('li', 'jp-gpu-workspace-submission');
  item.dataset.id = r.id;
  item.dataset.outcome = r.outcome;
  const head = el('div', 'jp-gpu-workspace-submission-head');
  head.append(
    mark(r.outcome === 'delivered', t.__('Delivered'), t.__('Not delivered')),
    el('span', 'jp-gpu-workspace-submission-time', new Date(r.submitted_at).toLocaleString()),
    el('span', undefined, t._n('%1 file', '%1 files', r.files.length) + ` · ${formatBytes(r.bytes)}`),
    el('code', 'jp-gpu-workspace-submission-id', r.id)
  );
  if (r.outcome === 'failed' && r.archive_kept) {
    const b = button(t.__('Retry'), () => retry(r));
    b.setAttribute('aria-label', t.__('Retry the delivery of the submission of %1', new Date(r.submitted_at).toLocaleString()));
    head.append(b);
  }
  item.append(head);
  if (r.error) {
    item.append(el('p', 'jp-gpu-workspace-submission-error', r.error));
  }
  const details = el('details', 'jp-gpu-workspace-submission-details');
  details.append(el('summary', undefined, t.__('Receipt')));
  const facts = el('dl');
  const fact = (k: string, v: string): void => {
    facts.append(el('dt', undefined, k), el('dd', undefined, v));
  };
  fact(t.__('Receipt id'), r.id);
  fact(t.__('Destination'), destinationText(r.destination, t) + (r.destination.detail ? ` (${r.destination.detail})` : ''));
  fact(t.__('Archive'), `${r.archive_name} — ${formatBytes(r.bytes)}`);
  fact(t.__('Archive sha256'), r.archive_sha256);
  fact(t.__('Attempts'), String(r.attempts));
  fact(t.__('Snapshot'), r.snapshot_id ?? t.__('none: %1', r.snapshot_note ?? ''));
  details.append(facts);
  const table = el('table', 'jp-gpu-workspace-submission-files');
  const headRow = el('tr');
  for (const h of [t.__('File'), t.__('Size'), t.__('sha256')]) {
    headRow.append(el('th', undefined, h));
  }
  table.append(headRow);
  for (const f of r.files) {
    const row = el('tr');
    row.append(el('td', undefined, f.source === 'conversion' ? t.__('%1 (converted)', f.path) : f.path), el('td', undefined, formatBytes(f.bytes)), el('td', 'jp-gpu-workspace-submission-sum', f.sha256));
    table.append(row);
  }
  details.append(table);
  for (const s of r.skipped) {
    details.append(el('div', 'jp-gpu-workspace-submit-skipped', t.__('⚠ Left out: %1 — %2', s.path, s.reason)));
  }
  item.append(details);
  return item;
}

/** The Submissions panel: every receipt, newest first, with Retry for deliveries that failed. */
export class SubmissionsPanel extends Widget {
  private readonly list = el('ul', 'jp-gpu-workspace-submissions-list');
  private readonly status = el('p', 'jp-gpu-workspace-submit-status');

  constructor(
    private readonly client: SubmitClient,
    private readonly trans: TranslationBundle,
    private readonly retry: (r: SubmissionReceipt) => Promise<void>
  ) {
    super();
    this.addClass('jp-gpu-workspace-submissions');
    this.status.setAttribute('role', 'status');
    const toolbar = el('div', 'jp-gpu-workspace-submit-toolbar');
    toolbar.append(button(trans.__('Refresh'), () => void this.refresh()));
    this.node.append(toolbar, this.status, this.list);
  }

  async refresh(): Promise<void> {
    let answer: SubmissionListResponse;
    try {
      answer = await this.client.list();
    } catch (err) {
      this.status.textContent = (err as Error).message;
      return;
    }
    this.status.textContent = answer.running
      ? phaseText(answer.running.phase, this.trans)
      : answer.submissions.length
        ? ''
        : this.trans.__('No submissions yet.');
    this.list.replaceChildren(...answer.submissions.map(r => receiptNode(r, this.trans, receipt => void this.retry(receipt).then(() => this.refresh()))));
  }
}
