import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Dialog, ICommandPalette, MainAreaWidget, Notification } from '@jupyterlab/apputils';
import { ITranslator, nullTranslator, TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import type {
  DeliveryFailedBody,
  HookEvent,
  SubmissionListResponse,
  SubmissionReceipt,
  SubmitChecklist,
  SubmitDestinationInfo,
  SubmitPhase
} from '@jupyterlab-gpu-workspace/api';
import { formatBytes } from '../format';
import { lastOutputLine } from '../terminalText';
import { hookFailureOf, WorkspaceRequestError } from '../server';
import { IHookLogViewer, IWorkspaceModel, IWorkspaceRequester } from '../tokens';
import { button as makeButton, el } from '../dom';

export const CommandIDs = {
  submit: 'gpu-workspace:submit-project',
  history: 'gpu-workspace:open-submissions'
} as const;

/** While the checklist dialog is open, it looks at the home again this often (files may be saved meanwhile). */
const CHECKLIST_POLL_MS = 3000;
/** While a submission runs, its phase is asked for this often. */
const PHASE_POLL_MS = 1500;
/** How often a running hook's latest line may change the notification. */
const HOOK_LINE_MS = 300;

const button = (label: string, onClick: () => void, className = 'jp-gpu-workspace-submit-button'): HTMLButtonElement => makeButton(label, onClick, className);

/** "✓ Present" / "✗ Missing": a mark and a word, never colour alone. */
function mark(ok: boolean, yes: string, no: string): HTMLSpanElement {
  const span = el('span', 'jp-gpu-workspace-submit-mark', `${ok ? '✓' : '✗'} ${ok ? yes : no}`);
  span.dataset.ok = String(ok);
  return span;
}

function destinationText(d: SubmitDestinationInfo, trans: TranslationBundle): string {
  switch (d.type) {
    case 'directory':
      return trans.__('the exchange folder %1', d.where);
    case 'http':
      return trans.__('%1 (upload)', d.where);
    case 'command':
      return trans.__("the operator's command %1", d.where);
  }
}

function phaseText(phase: SubmitPhase, trans: TranslationBundle): string {
  switch (phase) {
    case 'checking':
      return trans.__('Submitting: checking the files…');
    case 'converting':
      return trans.__('Submitting: running the conversions…');
    case 'archiving':
      return trans.__('Submitting: building the archive…');
    case 'snapshot':
      return trans.__('Submitting: taking a snapshot of your home folder…');
    case 'delivering':
      return trans.__('Submitting: delivering the archive…');
  }
}

/**
 * The checklist in the Submit dialog: each required file present or
 * missing, what is left out and why, the conversions that will run, and the
 * total size against the limit. It tells its owner whether Submit may be
 * pressed.
 */
class ChecklistBody extends Widget {
  checklist: SubmitChecklist | null = null;
  private readonly content = el('div', 'jp-gpu-workspace-submit-checklist');
  private readonly status = el('p', 'jp-gpu-workspace-submit-status');
  private timer: number | null = null;
  private loading: Promise<void> | null = null;

  constructor(
    private readonly requester: IWorkspaceRequester,
    private readonly trans: TranslationBundle,
    private readonly onReady: (ready: boolean) => void
  ) {
    super();
    this.addClass('jp-gpu-workspace-submit-dialog');
    this.status.setAttribute('role', 'status');
    this.status.setAttribute('aria-live', 'polite');
    const again = button(trans.__('Check again'), () => void this.refresh());
    this.node.append(this.status, this.content, again);
    this.status.textContent = trans.__('Checking your files…');
  }

  refresh(): Promise<void> {
    this.loading ??= (async () => {
      try {
        this.checklist = await this.requester.request<SubmitChecklist>('submit');
        this.render(this.checklist);
      } catch (err) {
        this.checklist = null;
        this.status.textContent = (err as Error).message;
        this.onReady(false);
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }

  startPolling(): void {
    this.timer = window.setInterval(() => {
      if (document.visibilityState === 'visible') {
        void this.refresh();
      }
    }, CHECKLIST_POLL_MS);
  }

  private render(c: SubmitChecklist): void {
    const t = this.trans;
    this.node.dataset.ready = String(c.ready);
    this.status.textContent = c.ready ? t.__('Everything required is here. Submit when you are ready.') : (c.reason ?? t.__('Not ready to submit.'));
    const parts: HTMLElement[] = [];

    parts.push(el('h3', undefined, t.__('Required files')));
    const items = el('ul', 'jp-gpu-workspace-submit-items');
    for (const item of c.items) {
      const li = el('li', 'jp-gpu-workspace-submit-item');
      li.dataset.path = item.path;
      li.dataset.present = String(item.present);
      li.append(mark(item.present, t.__('Present'), t.__('Missing')), el('code', undefined, item.path));
      const isPattern = item.files.length !== 1 || item.files[0].path !== item.path;
      if (item.files.length && isPattern) {
        const details = el('details');
        details.append(el('summary', undefined, t._n('%1 file', '%1 files', item.files.length)));
        const files = el('ul');
        for (const f of item.files) {
          files.append(el('li', undefined, `${f.path} — ${formatBytes(f.bytes)}`));
        }
        details.append(files);
        li.append(details);
      }
      for (const s of item.skipped) {
        li.append(el('div', 'jp-gpu-workspace-submit-skipped', t.__('⚠ Left out: %1 — %2', s.path, s.reason)));
      }
      items.append(li);
    }
    parts.push(items);

    if (c.conversions.length) {
      parts.push(el('h3', undefined, t.__('Conversions that will run')));
      const conversions = el('ul', 'jp-gpu-workspace-submit-conversions');
      for (const conv of c.conversions) {
        const li = el('li', 'jp-gpu-workspace-submit-conversion');
        li.dataset.ready = String(conv.ready);
        li.append(
          mark(conv.ready, t.__('Will run'), t.__('Nothing to convert')),
          el('span', undefined, conv.ready ? conv.sources.map((s, i) => `${s} → ${conv.outputs[i]}`).join(', ') : t.__('%1 → %2', conv.from, conv.to.toUpperCase()))
        );
        conversions.append(li);
      }
      parts.push(conversions);
    }

    const size = el('p', 'jp-gpu-workspace-submit-size', t.__('Total size: %1 of the %2 limit (%3).', formatBytes(c.total_bytes), formatBytes(c.max_bytes), t._n('%1 file', '%1 files', c.file_count)));
    size.dataset.over = String(c.total_bytes > c.max_bytes);
    const bar = el('progress', 'jp-gpu-workspace-submit-size-bar');
    bar.max = c.max_bytes;
    bar.value = Math.min(c.total_bytes, c.max_bytes);
    bar.setAttribute('aria-label', size.textContent ?? '');
    parts.push(size, bar);
    if (c.destination) {
      parts.push(el('p', 'jp-gpu-workspace-submit-destination', t.__('Goes to %1. A snapshot of your home folder is taken first.', destinationText(c.destination, t))));
    }
    this.content.replaceChildren(...parts);
    this.onReady(c.ready && c.running === null);
  }

  dispose(): void {
    if (this.timer !== null) {
      window.clearInterval(this.timer);
    }
    super.dispose();
  }
}

/** One receipt as a row of the history: outcome in words, files and sums behind a disclosure, Retry when it failed. */
function receiptNode(r: SubmissionReceipt, trans: TranslationBundle, retry: (r: SubmissionReceipt) => void): HTMLElement {
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
class SubmissionsPanel extends Widget {
  private readonly list = el('ul', 'jp-gpu-workspace-submissions-list');
  private readonly status = el('p', 'jp-gpu-workspace-submit-status');

  constructor(
    private readonly requester: IWorkspaceRequester,
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
      answer = await this.requester.request<SubmissionListResponse>('submissions');
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

/**
 * A submission's progress as one notification: its phase, "Show log" while
 * a conversion or delivery hook runs, and the outcome with the receipt id.
 */
class SubmitProgress {
  private readonly id: string;
  private runningHook: string | null = null;
  private hookTitle = '';
  /** The running hook's latest output, for its last line. */
  private hookTail = '';
  private hookShown: number | null = null;
  private timer: number;

  constructor(
    private readonly model: IWorkspaceModel,
    private readonly trans: TranslationBundle,
    private readonly viewer: IHookLogViewer | null,
    label: string
  ) {
    this.id = Notification.emit(label, 'in-progress', { autoClose: false });
    model.hookEvent.connect(this.onHook, this);
    this.timer = window.setInterval(() => void this.poll(), PHASE_POLL_MS);
  }

  private logAction(runId: string): Notification.IAction[] {
    const viewer = this.viewer;
    return viewer ? [{ label: this.trans.__('Show log'), callback: () => viewer.open(runId) }] : [];
  }

  private onHook(_: IWorkspaceModel, event: HookEvent): void {
    if (event.run.state === 'running' && event.chunk === '' && event.run.id !== this.runningHook) {
      this.runningHook = event.run.id;
      this.hookTitle = event.run.title;
      this.hookTail = '';
      this.showHook(event.run.id);
    } else if (event.run.id === this.runningHook && event.run.state !== 'running') {
      this.runningHook = null;
    } else if (event.run.id === this.runningHook && event.chunk) {
      // What the hook prints is its progress (nbconvert names each step): the last line is shown.
      this.hookTail = (this.hookTail + event.chunk).slice(-4096);
      if (this.hookShown === null) {
        this.hookShown = window.setTimeout(() => {
          this.hookShown = null;
          if (this.runningHook === event.run.id) {
            this.showHook(event.run.id);
          }
        }, HOOK_LINE_MS);
      }
    }
  }

  private showHook(runId: string): void {
    const line = lastOutputLine(this.hookTail);
    const message = line ? `${this.hookTitle}… ${line}` : `${this.hookTitle}…`;
    Notification.update({ id: this.id, message, type: 'in-progress', autoClose: false, actions: this.logAction(runId) });
  }

  private async poll(): Promise<void> {
    if (this.runningHook) {
      return;
    }
    try {
      const answer = await this.model.requester.request<SubmissionListResponse>('submissions');
      if (answer.running && !this.runningHook) {
        Notification.update({ id: this.id, message: phaseText(answer.running.phase, this.trans), type: 'in-progress', autoClose: false });
      }
    } catch {
      // The final answer says what happened.
    }
  }

  finish(type: 'success' | 'error', message: string, actions: Notification.IAction[]): void {
    window.clearInterval(this.timer);
    if (this.hookShown !== null) {
      window.clearTimeout(this.hookShown);
    }
    this.model.hookEvent.disconnect(this.onHook, this);
    Notification.update({ id: this.id, message, type, autoClose: type === 'success' ? 15_000 : false, actions });
  }

  /** Ends with what the sidecar said: a failed conversion offers its log, a failed delivery the Submissions panel. */
  fail(err: unknown, openHistory: () => void): void {
    const hook = hookFailureOf(err);
    if (hook) {
      this.finish('error', (err as Error).message, this.logAction(hook.run.id));
      return;
    }
    const body = err instanceof WorkspaceRequestError ? err.body : null;
    if (body?.code === 'delivery_failed') {
      const receipt = (body as unknown as DeliveryFailedBody).receipt;
      const actions: Notification.IAction[] = [{ label: this.trans.__('Open Submissions'), callback: openHistory }];
      if (receipt.hook_run_id) {
        actions.push(...this.logAction(receipt.hook_run_id));
      }
      this.finish('error', (err as Error).message, actions);
      return;
    }
    this.finish('error', (err as Error).message, []);
  }
}

export const submitPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-gpu-workspace:submit',
  description: 'Submit Project: the checklist, the submission with its progress, and the Submissions panel with receipts and retry.',
  autoStart: true,
  requires: [IWorkspaceModel],
  optional: [ICommandPalette, ITranslator, IHookLogViewer],
  activate: (app: JupyterFrontEnd, model: IWorkspaceModel, palette: ICommandPalette | null, translator: ITranslator | null, viewer: IHookLogViewer | null) => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_gpu_workspace');
    let enabled = false;
    let submitting = false;
    let shell: MainAreaWidget<SubmissionsPanel> | null = null;

    const changed = (): void => {
      app.commands.notifyCommandChanged(CommandIDs.submit);
      app.commands.notifyCommandChanged(CommandIDs.history);
    };

    const openHistory = (): void => {
      if (!shell || shell.isDisposed) {
        const panel = new SubmissionsPanel(model.requester, trans, retry);
        shell = new MainAreaWidget({ content: panel });
        shell.id = 'jp-gpu-workspace-submissions-panel';
        shell.title.label = trans.__('Submissions');
        shell.title.closable = true;
      }
      if (!shell.isAttached) {
        app.shell.add(shell, 'main');
      }
      app.shell.activateById(shell.id);
      void shell.content.refresh();
    };

    /** Runs one submission or retry with its progress notification, then refreshes the panel. */
    const run = async (label: string, request: () => Promise<SubmissionReceipt>, done: (r: SubmissionReceipt) => string): Promise<void> => {
      submitting = true;
      changed();
      const progress = new SubmitProgress(model, trans, viewer, label);
      try {
        const receipt = await request();
        progress.finish('success', done(receipt), [{ label: trans.__('Open Submissions'), callback: openHistory }]);
      } catch (err) {
        progress.fail(err, openHistory);
      } finally {
        submitting = false;
        changed();
        if (shell && !shell.isDisposed) {
          void shell.content.refresh();
        }
      }
    };

    async function retry(r: SubmissionReceipt): Promise<void> {
      await run(
        trans.__('Delivering the submission again…'),
        () => model.requester.request<SubmissionReceipt>(`submissions/${r.id}/retry`, { method: 'POST', body: {} }),
        receipt => trans.__('Submission delivered. Receipt %1.', receipt.id)
      );
    }

    const submit = async (): Promise<void> => {
      let submitButton: HTMLButtonElement | null = null;
      const body = new ChecklistBody(model.requester, trans, ready => {
        if (submitButton) {
          submitButton.disabled = !ready;
          submitButton.title = ready ? '' : trans.__('Submit is possible once every required file is present.');
        }
      });
      const dialog = new Dialog({
        title: trans.__('Submit Project'),
        body,
        buttons: [Dialog.cancelButton({ label: trans.__('Cancel') }), Dialog.okButton({ label: trans.__('Submit') })],
        // Enter must not submit an incomplete project: the default is Cancel.
        defaultButton: 0
      });
      submitButton = dialog.node.querySelector<HTMLButtonElement>('.jp-Dialog-button.jp-mod-accept');
      if (submitButton) {
        submitButton.disabled = true;
      }
      void body.refresh();
      body.startPolling();
      const answer = await dialog.launch();
      const checklist = body.checklist;
      if (!answer.button.accept || !checklist?.ready) {
        return;
      }
      await run(
        trans.__('Submitting…'),
        () => model.requester.request<SubmissionReceipt>('submit', { method: 'POST', body: {} }),
        receipt => trans.__('Project submitted: %1 delivered. Receipt %2.', receipt.archive_name, receipt.id)
      );
    };

    app.commands.addCommand(CommandIDs.submit, {
      label: trans.__('Submit Project…'),
      caption: trans.__('Check the required files, then hand in your project; you get a receipt.'),
      isVisible: () => enabled,
      isEnabled: () => enabled && !submitting,
      execute: submit
    });
    app.commands.addCommand(CommandIDs.history, {
      label: trans.__('Submissions'),
      caption: trans.__('Your submissions and their receipts; retry a failed delivery.'),
      isVisible: () => enabled,
      execute: openHistory
    });
    palette?.addItem({ command: CommandIDs.submit, category: trans.__('Workspace') });
    palette?.addItem({ command: CommandIDs.history, category: trans.__('Workspace') });

    // Whether to offer Submit at all: the operator's setting, asked cheaply (the home is not read) once the
    // workspace service answers; asked again after a failure.
    let known = false;
    let asking = false;
    const learn = (): void => {
      if (known || asking || model.connection !== 'connected') {
        return;
      }
      asking = true;
      void model.requester
        .request<SubmissionListResponse>('submissions')
        .then(
          answer => {
            known = true;
            enabled = answer.enabled;
            changed();
          },
          () => undefined
        )
        .finally(() => (asking = false));
    };
    model.changed.connect(learn);
    learn();
  }
};
