import { Notification } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import type { DeliveryFailedBody, HookEvent } from '@jupyterlab-gpu-workspace/api';
import { lastOutputLine } from '../terminalText';
import { hookFailureOf, WorkspaceRequestError } from '../server';
import { IHookLogViewer, IWorkspaceModel } from '../tokens';
import { SubmitClient } from '../api/submit';
import { HOOK_LINE_MS, phaseText, PHASE_POLL_MS } from './submitChecklist';

/**
 * A submission's progress as one notification: its phase, "Show log" while
 * a conversion or delivery hook runs, and the outcome with the receipt id.
 */
export class SubmitProgress {
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
      const answer = await new SubmitClient(this.model.requester).list();
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
