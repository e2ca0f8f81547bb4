import { Dialog, Notification, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import { TrashUsage, SnapshotFilesResponse, SnapshotInfo } from '@jupyterlab-gpu-workspace/api';
import { formatBytes, usageLevel } from '../format';
import { WorkspaceRestarter } from '../restart';
import { SnapshotsClient } from '../api/snapshots';
import { el } from '../dom';
import { button, HomeUsage } from './homeUsage';

/**
 * The Snapshots panel: what uses the space, the snapshots (time, trigger,
 * size, changes), a snapshot's files with a Restore button each, a whole
 * snapshot's restore (saved and undoable), and the zip download.
 */
export class SnapshotsPanel extends Widget {
  private readonly usageNode = el('section', 'jp-gpu-workspace-snapshots-usage');
  private readonly progressNode = el('p', 'jp-gpu-workspace-snapshots-progress');
  private readonly listNode = el('section', 'jp-gpu-workspace-snapshots-list');
  private readonly filesNode = el('section', 'jp-gpu-workspace-snapshots-files');
  private snapshots: SnapshotInfo[] = [];
  private busy = false;
  private progressTimer: number | null = null;

  constructor(
    private readonly client: SnapshotsClient,
    private readonly usage: HomeUsage,
    private readonly restarter: WorkspaceRestarter,
    private readonly trans: TranslationBundle,
    download: () => void,
    /** Shows a file or folder of the home in the file browser, where it can be deleted or moved. */
    private readonly showInBrowser: (path: string) => void
  ) {
    super();
    this.addClass('jp-gpu-workspace-snapshots');
    this.id = 'jp-gpu-workspace-snapshots';
    this.title.label = trans.__('Snapshots');
    this.title.closable = true;
    const toolbar = el('div', 'jp-gpu-workspace-snapshots-toolbar');
    toolbar.append(
      button(trans.__('Take snapshot now'), () => void this.takeSnapshot()),
      button(trans.__('Download home as zip'), download),
      button(trans.__('Refresh'), () => void this.refresh())
    );
    this.progressNode.setAttribute('role', 'status');
    this.progressNode.setAttribute('aria-live', 'polite');
    this.node.append(toolbar, this.progressNode, this.usageNode, this.listNode, this.filesNode);
    usage.onChange(() => this.renderUsage());
  }

  async refresh(): Promise<void> {
    await this.usage.refresh();
    try {
      const answer = await this.client.list();
      this.snapshots = answer.snapshots;
      this.renderList(answer.available ? null : answer.reason);
    } catch (err) {
      this.renderList((err as Error).message);
    }
  }

  private renderUsage(): void {
    const u = this.usage.value;
    this.usageNode.replaceChildren();
    if (!u) {
      return;
    }
    const level = usageLevel(u.used_bytes, u.cap_bytes);
    const head = el('p', 'jp-gpu-workspace-snapshots-usage-line', this.trans.__('Your home folder holds %1 of %2.', formatBytes(u.used_bytes), formatBytes(u.cap_bytes)));
    head.dataset.level = level;
    const bar = el('progress', 'jp-gpu-workspace-snapshots-usage-bar');
    bar.max = u.cap_bytes;
    bar.value = Math.min(u.used_bytes, u.cap_bytes);
    bar.setAttribute('aria-label', head.textContent ?? '');
    const largest = el('ul', 'jp-gpu-workspace-snapshots-largest');
    largest.setAttribute('aria-label', this.trans.__('What uses the space'));
    for (const l of u.largest) {
      const name = l.kind === 'folder' ? l.path + '/' : l.path;
      const item = el('li', undefined, `${name} — ${formatBytes(l.bytes)} `);
      item.dataset.path = l.path;
      // The way out of a full home: to the file browser, where the file can be deleted or moved.
      const show = button(this.trans.__('Show'), () => this.showInBrowser(l.path));
      show.setAttribute('aria-label', this.trans.__('Show %1 in the file browser', name));
      item.append(show);
      largest.append(item);
    }
    this.usageNode.append(head, bar);
    if (u.trash) {
      this.usageNode.append(this.trashLine(u.trash));
    }
    this.usageNode.append(el('h3', undefined, this.trans.__('What uses the space')), largest);
  }

  /** The Trash as a line of its own, with the button that frees it. */
  private trashLine(trash: TrashUsage): HTMLElement {
    const line = el('p', 'jp-gpu-workspace-snapshots-trash', this.trans.__('Deleted files in the Trash: %1 (they count against the cap). ', formatBytes(trash.bytes)));
    const empty = button(this.trans.__('Empty Trash'), () => void this.emptyTrash(empty));
    empty.disabled = trash.bytes === 0;
    line.append(empty);
    return line;
  }

  private async emptyTrash(control: HTMLButtonElement): Promise<void> {
    const answer = await showDialog({
      title: this.trans.__('Empty the Trash?'),
      body: this.trans.__('The files in the Trash are deleted for good. Snapshots taken before keep them.'),
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: this.trans.__('Empty Trash') })]
    });
    if (!answer.button.accept) {
      return;
    }
    control.disabled = true;
    try {
      const done = await this.client.emptyTrash();
      Notification.success(this.trans.__('The Trash is empty: %1 freed.', formatBytes(done.freed_bytes)), { autoClose: 5000 });
    } catch (err) {
      Notification.error((err as Error).message, { autoClose: false });
    }
    await this.usage.refresh();
  }

  private renderList(problem: string | null): void {
    this.listNode.replaceChildren(el('h3', undefined, this.trans.__('Snapshots')));
    if (problem) {
      this.listNode.append(el('p', 'jp-gpu-workspace-snapshots-problem', problem));
      return;
    }
    if (!this.snapshots.length) {
      this.listNode.append(el('p', undefined, this.trans.__('No snapshots yet.')));
      return;
    }
    const table = el('table', 'jp-gpu-workspace-snapshots-table');
    const head = el('tr');
    for (const h of [this.trans.__('Time'), this.trans.__('Trigger'), this.trans.__('Size'), this.trans.__('Changes'), '']) {
      head.append(el('th', undefined, h));
    }
    table.append(head);
    for (const s of this.snapshots) {
      const row = el('tr');
      row.dataset.id = s.id;
      const actions = el('td', 'jp-gpu-workspace-snapshots-actions');
      actions.append(
        button(this.trans.__('Browse'), () => void this.browse(s, '')),
        button(this.trans.__('Restore all…'), () => void this.restoreHome(s))
      );
      row.append(
        el('td', undefined, new Date(s.time).toLocaleString()),
        el('td', undefined, s.trigger),
        el('td', undefined, s.size_bytes === null ? '—' : formatBytes(s.size_bytes)),
        el('td', undefined, s.changes === null ? '—' : String(s.changes)),
        actions
      );
      table.append(row);
    }
    this.listNode.append(table);
  }

  private async browse(s: SnapshotInfo, dir: string): Promise<void> {
    let answer: SnapshotFilesResponse;
    try {
      answer = await this.client.files(s.id, dir);
    } catch (err) {
      void showErrorMessage(this.trans.__('Cannot read the snapshot'), (err as Error).message);
      return;
    }
    this.filesNode.replaceChildren(el('h3', undefined, this.trans.__('Files in the snapshot of %1: /%2', new Date(s.time).toLocaleString(), dir)));
    const list = el('ul', 'jp-gpu-workspace-snapshots-entries');
    if (dir) {
      const up = el('li');
      up.append(button(this.trans.__('.. (up)'), () => void this.browse(s, dir.split('/').slice(0, -1).join('/'))));
      list.append(up);
    }
    for (const e of answer.entries) {
      const item = el('li');
      item.dataset.path = e.path;
      const name = e.type === 'dir' ? button(e.name + '/', () => void this.browse(s, e.path), 'jp-gpu-workspace-snapshots-link') : el('span', undefined, e.name);
      item.append(
        name,
        el('span', 'jp-gpu-workspace-snapshots-size', e.size === null ? '' : formatBytes(e.size)),
        button(this.trans.__('Restore'), () => void this.restore(s, e.path))
      );
      list.append(item);
    }
    this.filesNode.append(list);
    (list.querySelector('button') as HTMLButtonElement | null)?.focus();
  }

  /** Runs long work with a progress line fed by `GET snapshots` (restic's progress), one at a time. */
  private async withProgress<T>(label: string, work: () => Promise<T>): Promise<T | undefined> {
    if (this.busy) {
      return undefined;
    }
    this.busy = true;
    this.progressNode.textContent = label;
    this.progressTimer = window.setInterval(() => {
      void this.client.list().then(
        a => {
          const r = a.running;
          if (r && r.percent !== null) {
            this.progressNode.textContent = `${label} ${Math.round(r.percent * 100)} %`;
          }
        },
        () => undefined
      );
    }, 1000);
    try {
      return await work();
    } catch (err) {
      void showErrorMessage(label, (err as Error).message);
      return undefined;
    } finally {
      window.clearInterval(this.progressTimer);
      this.progressTimer = null;
      this.progressNode.textContent = '';
      this.busy = false;
      await this.refresh();
    }
  }

  private async takeSnapshot(): Promise<void> {
    const made = await this.withProgress(this.trans.__('Taking a snapshot…'), () =>
      this.client.create()
    );
    if (made) {
      Notification.success(this.trans.__('Snapshot %1 taken.', made.id), { autoClose: 4000 });
    }
  }

  private async restore(s: SnapshotInfo, rel: string): Promise<void> {
    const done = await this.withProgress(this.trans.__('Restoring %1…', rel), () =>
      this.client.restore(s.id, rel)
    );
    if (done) {
      Notification.success(
        done.restored_to === rel
          ? this.trans.__('"%1" restored.', rel)
          : this.trans.__('"%1" exists, so the snapshot\'s copy was restored beside it as "%2".', rel, done.restored_to),
        { autoClose: 6000 }
      );
    }
  }

  private async restoreHome(s: SnapshotInfo): Promise<void> {
    const answer = await showDialog({
      title: this.trans.__('Restore the whole home folder?'),
      body: this.trans.__(
        'Your home folder will hold what it held at %1. Open documents are saved and a snapshot of the present is taken first, so you can undo this from the list.',
        new Date(s.time).toLocaleString()
      ),
      buttons: [Dialog.cancelButton({ label: this.trans.__('Cancel') }), Dialog.warnButton({ label: this.trans.__('Restore') })]
    });
    if (!answer.button.accept) {
      return;
    }
    const done = await this.withProgress(this.trans.__('Restoring the home folder…'), async () => {
      await this.restarter.saveAll();
      return this.client.restoreHome(s.id);
    });
    if (done) {
      Notification.success(this.trans.__('Home folder restored. What it held before is snapshot %1.', done.undo_snapshot), { autoClose: 8000 });
    }
  }

  dispose(): void {
    if (this.progressTimer !== null) {
      window.clearInterval(this.progressTimer);
    }
    super.dispose();
  }
}
