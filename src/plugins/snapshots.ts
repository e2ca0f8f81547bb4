import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Dialog, ICommandPalette, MainAreaWidget, Notification, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { IStatusBar } from '@jupyterlab/statusbar';
import { ITranslator, nullTranslator, TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import {
  API_PATH,
  HomeUsageResponse,
  TrashEmptied,
  TrashUsage,
  RestoreHomeResponse,
  RestoreResponse,
  SnapshotCreated,
  SnapshotFilesResponse,
  SnapshotInfo,
  SnapshotListResponse
} from '@jupyterlab-gpu-workspace/api';
import { formatBytes, usageLevel } from '../format';
import { WorkspaceRestarter } from '../restart';
import { IWorkspaceModel, IWorkspaceRequester } from '../tokens';
import { IWorkspaceRestarter } from './restarter';
import { button as makeButton, el } from '../dom';

export const CommandIDs = {
  open: 'gpu-workspace:open-snapshots',
  download: 'gpu-workspace:download-home'
} as const;

/** How often the usage meter asks for the home's size while the page is visible. */
const USAGE_POLL_MS = 60_000;
/** After a file is saved, deleted or renamed in JupyterLab, the meter asks again this soon (one ask for a burst). */
const AFTER_CHANGE_MS = 1_000;

const button = (label: string, onClick: () => void, className = 'jp-gpu-workspace-snapshots-button'): HTMLButtonElement => makeButton(label, onClick, className);

/** The home's usage, fetched on a slow poll and after every snapshot action; the meter and the panel read it. */
class HomeUsage {
  value: HomeUsageResponse | null = null;
  private readonly listeners = new Set<() => void>();
  private timer: number | null = null;
  private soonTimer: number | null = null;

  constructor(private readonly requester: IWorkspaceRequester) {}

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async refresh(): Promise<void> {
    try {
      this.value = await this.requester.request<HomeUsageResponse>('home/usage');
    } catch {
      // The meter keeps its last value; the connection status item already says when the service is gone.
      return;
    }
    this.listeners.forEach(l => l());
  }

  /** Asks again shortly: a file changed (deleting the big one must show at once that the home is free again). */
  soon(): void {
    if (this.soonTimer === null) {
      this.soonTimer = window.setTimeout(() => {
        this.soonTimer = null;
        void this.refresh();
      }, AFTER_CHANGE_MS);
    }
  }

  start(): void {
    void this.refresh();
    this.timer = window.setInterval(() => {
      if (document.visibilityState === 'visible') {
        void this.refresh();
      }
    }, USAGE_POLL_MS);
  }

  dispose(): void {
    if (this.timer !== null) {
      window.clearInterval(this.timer);
    }
  }
}

/** Status bar: "Home 1.23 GB / 3.00 GB", amber from 90 %; a click opens the Snapshots panel. */
class HomeUsageItem extends Widget {
  constructor(
    private readonly usage: HomeUsage,
    private readonly trans: TranslationBundle,
    open: () => void
  ) {
    super({ node: document.createElement('button') });
    this.addClass('jp-gpu-workspace-home-usage');
    (this.node as HTMLButtonElement).type = 'button';
    this.node.addEventListener('click', open);
    usage.onChange(() => this.render());
    this.render();
  }

  private render(): void {
    const u = this.usage.value;
    if (!u) {
      this.node.textContent = this.trans.__('Home …');
      this.node.dataset.level = 'ok';
      return;
    }
    const level = usageLevel(u.used_bytes, u.cap_bytes);
    this.node.dataset.level = level;
    this.node.textContent = this.trans.__('Home %1 / %2', formatBytes(u.used_bytes), formatBytes(u.cap_bytes));
    const top = u.largest
      .slice(0, 3)
      .map(l => `${l.path} (${formatBytes(l.bytes)})`)
      .join(', ');
    this.node.title =
      (level === 'over'
        ? this.trans.__('Your home folder is over its cap: snapshots are refused until you free space.')
        : level === 'warning'
          ? this.trans.__('Your home folder is nearly full.')
          : this.trans.__('Space used in your home folder.')) + (top ? '\n' + this.trans.__('Largest: %1. Click for details.', top) : '');
    this.node.setAttribute('aria-label', this.node.textContent + '. ' + this.node.title);
  }
}

/**
 * The Snapshots panel: what uses the space, the snapshots (time, trigger,
 * size, changes), a snapshot's files with a Restore button each, a whole
 * snapshot's restore (saved and undoable), and the zip download.
 */
class SnapshotsPanel extends Widget {
  private readonly usageNode = el('section', 'jp-gpu-workspace-snapshots-usage');
  private readonly progressNode = el('p', 'jp-gpu-workspace-snapshots-progress');
  private readonly listNode = el('section', 'jp-gpu-workspace-snapshots-list');
  private readonly filesNode = el('section', 'jp-gpu-workspace-snapshots-files');
  private snapshots: SnapshotInfo[] = [];
  private busy = false;
  private progressTimer: number | null = null;

  constructor(
    private readonly requester: IWorkspaceRequester,
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
      const answer = await this.requester.request<SnapshotListResponse>('snapshots');
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
      const done = await this.requester.request<TrashEmptied>('home/trash/empty', { method: 'POST', body: {} });
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
      answer = await this.requester.request<SnapshotFilesResponse>(`snapshots/${s.id}/files?path=${encodeURIComponent(dir)}`);
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
      void this.requester.request<SnapshotListResponse>('snapshots').then(
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
      this.requester.request<SnapshotCreated>('snapshots', { method: 'POST', body: {} })
    );
    if (made) {
      Notification.success(this.trans.__('Snapshot %1 taken.', made.id), { autoClose: 4000 });
    }
  }

  private async restore(s: SnapshotInfo, rel: string): Promise<void> {
    const done = await this.withProgress(this.trans.__('Restoring %1…', rel), () =>
      this.requester.request<RestoreResponse>(`snapshots/${s.id}/restore`, { method: 'POST', body: { path: rel } })
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
      return this.requester.request<RestoreHomeResponse>(`snapshots/${s.id}/restore-home`, { method: 'POST', body: {} });
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

/** Starts a download of the home as a zip; the login cookie authenticates the GET. */
function downloadHome(): void {
  const settings = ServerConnection.makeSettings();
  const a = document.createElement('a');
  a.href = URLExt.join(settings.baseUrl, API_PATH, 'home/archive');
  a.download = 'home.zip';
  document.body.append(a);
  a.click();
  a.remove();
}

export const snapshotsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-gpu-workspace:snapshots',
  description: 'The home usage meter, the Snapshots panel and the home zip download.',
  autoStart: true,
  requires: [IWorkspaceModel, IWorkspaceRestarter],
  optional: [IStatusBar, ICommandPalette, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    model: IWorkspaceModel,
    restarter: WorkspaceRestarter,
    statusBar: IStatusBar | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null
  ) => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_gpu_workspace');
    const usage = new HomeUsage(model.requester);
    let shell: MainAreaWidget<SnapshotsPanel> | null = null;
    app.commands.addCommand(CommandIDs.open, {
      label: trans.__('Snapshots…'),
      caption: trans.__('Your home folder\'s snapshots and what uses its space: browse, restore, download.'),
      execute: () => {
        if (!shell || shell.isDisposed) {
          const panel = new SnapshotsPanel(model.requester, usage, restarter, trans, downloadHome, path =>
            void app.commands.execute('filebrowser:go-to-path', { path, showBrowser: true })
          );
          shell = new MainAreaWidget({ content: panel });
          shell.id = 'jp-gpu-workspace-snapshots-panel';
          shell.title.label = trans.__('Snapshots');
          shell.title.closable = true;
        }
        if (!shell.isAttached) {
          app.shell.add(shell, 'main');
        }
        app.shell.activateById(shell.id);
        void shell.content.refresh();
      }
    });
    app.commands.addCommand(CommandIDs.download, {
      label: trans.__('Download home as zip'),
      caption: trans.__('Download every file of your home folder as one zip.'),
      execute: downloadHome
    });
    palette?.addItem({ command: CommandIDs.open, category: trans.__('Workspace') });
    palette?.addItem({ command: CommandIDs.download, category: trans.__('Workspace') });
    if (statusBar) {
      statusBar.registerStatusItem('jupyterlab-gpu-workspace:home-usage', {
        item: new HomeUsageItem(usage, trans, () => void app.commands.execute(CommandIDs.open)),
        align: 'left',
        rank: 110
      });
    }
    // A file written, deleted or renamed through JupyterLab changes what the home holds.
    app.serviceManager.contents.fileChanged.connect(() => usage.soon());
    usage.start();
  }
};
