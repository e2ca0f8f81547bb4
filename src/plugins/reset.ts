import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Dialog, ICommandPalette, Notification, showErrorMessage } from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import { ITranslator, nullTranslator, TranslationBundle } from '@jupyterlab/translation';
import { RESET_CONFIRMATION } from '@jupyterlab-gpu-workspace/api';
import type { ResetRecord, ResetResponse, ResetStatusResponse, ResetStep } from '@jupyterlab-gpu-workspace/api';
import { SaveFailedError, WorkspaceRestarter } from '../restart';
import { hookFailureOf, WorkspaceRequestError } from '../server';
import { IHookLogViewer, IWorkspaceModel, IWorkspaceRestarter } from '../tokens';
import { ResetClient } from '../api/reset';

export const CommandIDs = {
  reset: 'gpu-workspace:reset-data'
} as const;

/** What the page tells itself across the reload that follows a reset or an undo. */
const AFTER_RELOAD_KEY = 'jupyterlab-gpu-workspace:after-reset';

type AfterReload = { kind: 'reset'; id: string } | { kind: 'undo'; snapshot: string; undoSnapshot: string };

/** How often the progress line asks which step the reset is at. */
const PROGRESS_POLL_MS = 1000;
import { ConfirmBody } from '../components/resetConfirm';

function stepLabel(step: ResetStep | null, trans: TranslationBundle): string {
  switch (step) {
    case 'snapshot':
      return trans.__('Resetting: taking a snapshot of your home folder, so the reset can be undone…');
    case 'preparing':
      return trans.__('Resetting: preparing a clean copy…');
    case 'stopping':
      return trans.__('Resetting: stopping kernels and terminals…');
    case 'swapping':
      return trans.__('Resetting: replacing your files…');
    case 'hook':
      return trans.__('Resetting: running the set-up script…');
    case 'starting':
      return trans.__('Resetting: starting Jupyter again…');
    default:
      return trans.__('Resetting: saving your documents…');
  }
}

/** Keeps one notification up to date with the step a reset is at, from GET reset. */
function followProgress(client: ResetClient, trans: TranslationBundle, id: string): () => void {
  let last: ResetStep | null = null;
  const timer = window.setInterval(() => {
    void client.status().then(
      status => {
        if (status.running && status.running !== last) {
          last = status.running;
          Notification.update({ id, message: stepLabel(last, trans), type: 'in-progress', autoClose: false });
        }
      },
      () => undefined // Jupyter restarting: the next tick asks again.
    );
  }, PROGRESS_POLL_MS);
  return () => window.clearInterval(timer);
}

function remember(after: AfterReload): void {
  window.sessionStorage.setItem(AFTER_RELOAD_KEY, JSON.stringify(after));
}

function takeRemembered(): AfterReload | null {
  const raw = window.sessionStorage.getItem(AFTER_RELOAD_KEY);
  window.sessionStorage.removeItem(AFTER_RELOAD_KEY);
  try {
    return raw ? (JSON.parse(raw) as AfterReload) : null;
  } catch {
    return null;
  }
}

/**
 * Workspace → Reset Data…: a typed confirmation, then save, stop kernels and
 * terminals, POST reset (the sidecar snapshots, swaps, runs the post-reset
 * hook and restarts Jupyter) and reload the page. After the reload one
 * notification says how it went, with "Undo reset" (and "Show log" when the
 * set-up script failed).
 */
export const resetPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-gpu-workspace:reset',
  description: 'The Reset Data command: a clean home, undoable, after a typed confirmation.',
  autoStart: true,
  requires: [IWorkspaceModel, IWorkspaceRestarter],
  optional: [ICommandPalette, ITranslator, IHookLogViewer],
  activate: (
    app: JupyterFrontEnd,
    model: IWorkspaceModel,
    restarter: WorkspaceRestarter,
    palette: ICommandPalette | null,
    translator: ITranslator | null,
    hookLog: IHookLogViewer | null
  ) => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_gpu_workspace');
    const client = new ResetClient(model.requester);
    let running = false;

    const reload = (after: AfterReload): void => {
      remember(after);
      // Not the same URL: the folder or document it names (/lab/tree/…) may be gone from the new home.
      window.location.assign(PageConfig.getUrl({ treePath: '' }));
    };

    const undo = async (snapshotId: string): Promise<void> => {
      const id = Notification.emit(trans.__('Undoing the reset: your files are coming back…'), 'in-progress', { autoClose: false });
      try {
        // Documents opened since the reset are saved first; they are in the snapshot the undo takes.
        await restarter.saveAll();
        const answer = await client.undo(snapshotId);
        Notification.dismiss(id);
        reload({ kind: 'undo', snapshot: answer.snapshot_id, undoSnapshot: answer.undo_snapshot });
      } catch (err) {
        Notification.dismiss(id);
        const message =
          err instanceof SaveFailedError
            ? trans.__('Nothing was undone: "%1" could not be saved (%2). Save or close it, then try again.', err.path, err.message)
            : trans.__('The reset could not be undone: %1', (err as Error).message);
        Notification.error(message, { autoClose: false });
      }
    };

    const undoAction = (snapshotId: string | null): Notification.IAction[] =>
      snapshotId
        ? [{ label: trans.__('Undo reset'), caption: trans.__('Restore snapshot %1: every file as it was before the reset', snapshotId), callback: () => void undo(snapshotId) }]
        : [];

    const logAction = (runId: string | null): Notification.IAction[] =>
      runId && hookLog ? [{ label: trans.__('Show log'), caption: trans.__('The set-up script\'s output'), callback: () => hookLog.open(runId) }] : [];

    /** After the reload: one notification saying how the reset (or its undo) went. */
    const announce = async (after: AfterReload): Promise<void> => {
      if (after.kind === 'undo') {
        Notification.success(trans.__('Your files are back as they were before the reset. The reset home is kept as snapshot %1.', after.undoSnapshot), {
          autoClose: 10_000
        });
        return;
      }
      let last: ResetRecord | null = null;
      try {
        last = (await client.status()).last;
      } catch {
        // The workspace service is not answering yet: the notification says what is known.
      }
      if (!last || last.id !== after.id) {
        Notification.info(trans.__('Your home folder was reset.'), { autoClose: 10_000 });
        return;
      }
      if (last.outcome === 'succeeded') {
        Notification.success(trans.__('Your home folder was reset to a clean copy.'), {
          autoClose: false,
          actions: undoAction(last.snapshot_id)
        });
      } else {
        Notification.warning(last.message ?? trans.__('Your home folder was reset, with problems.'), {
          autoClose: false,
          actions: [...logAction(last.hook_run), ...undoAction(last.snapshot_id)]
        });
      }
    };

    const resetData = async (): Promise<void> => {
      let status: ResetStatusResponse;
      try {
        status = await client.status();
      } catch (err) {
        void showErrorMessage(trans.__('Reset Data'), (err as Error).message);
        return;
      }
      if (!status.available) {
        void showErrorMessage(trans.__('Reset Data is not possible now'), status.reason ?? '');
        return;
      }
      const body = new ConfirmBody(trans, status);
      const dialog = new Dialog({
        title: trans.__('Reset your home folder?'),
        body,
        buttons: [Dialog.cancelButton({ label: trans.__('Cancel') }), Dialog.warnButton({ label: trans.__('Reset') })],
        focusNodeSelector: 'input'
      });
      const choice = await dialog.launch();
      // Checked again here: the button and Enter are guarded, and the server checks it a third time.
      if (!choice.button.accept || choice.value !== RESET_CONFIRMATION) {
        return;
      }
      running = true;
      app.commands.notifyCommandChanged(CommandIDs.reset);
      const id = Notification.emit(stepLabel(null, trans), 'in-progress', { autoClose: false });
      const stopFollowing = followProgress(client, trans, id);
      let answer: ResetResponse | null = null;
      try {
        await restarter.run(
          async () => {
            answer = await client.reset();
          },
          { freshKernels: 'on-failure' }
        );
      } catch (err) {
        stopFollowing();
        Notification.dismiss(id);
        running = false;
        app.commands.notifyCommandChanged(CommandIDs.reset);
        const hook = hookFailureOf(err);
        if (hook || (err instanceof WorkspaceRequestError && err.body?.code === 'jupyter_failed')) {
          // The home was reset; only what came after failed. The page reloads onto the clean home
          // and says so there, with the hook's log and the undo.
          const last = await client.status().then(s => s.last, () => null);
          if (last) {
            reload({ kind: 'reset', id: last.id });
            return;
          }
        }
        const message =
          err instanceof SaveFailedError
            ? trans.__('Nothing was reset: "%1" could not be saved (%2). Save or close it, then try again.', err.path, err.message)
            : (err as Error).message;
        Notification.error(message, { autoClose: false, actions: hook ? logAction(hook.run.id) : [] });
        return;
      }
      stopFollowing();
      Notification.update({ id, message: trans.__('Your home folder was reset. Reloading the page…'), type: 'success', autoClose: false });
      reload({ kind: 'reset', id: (answer as ResetResponse | null)?.id ?? '' });
    };

    app.commands.addCommand(CommandIDs.reset, {
      label: trans.__('Reset Data…'),
      caption: trans.__('Replace every file in your home folder with a clean copy (undoable: a snapshot is taken first).'),
      isEnabled: () => !running && !restarter.isRunning && model.connection !== 'restarting',
      execute: resetData
    });
    model.changed.connect(() => app.commands.notifyCommandChanged(CommandIDs.reset));
    palette?.addItem({ command: CommandIDs.reset, category: trans.__('Workspace') });

    const after = takeRemembered();
    if (after) {
      void app.restored.then(() => announce(after));
    }
  }
};
