import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Dialog, ICommandPalette, MainAreaWidget } from '@jupyterlab/apputils';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import type { SubmissionReceipt } from '@jupyterlab-gpu-workspace/api';
import { IHookLogViewer, IWorkspaceModel } from '../tokens';
import { SubmitClient } from '../api/submit';

export const CommandIDs = {
  submit: 'gpu-workspace:submit-project',
  history: 'gpu-workspace:open-submissions'
} as const;
import { ChecklistBody } from '../components/submitChecklist';
import { SubmissionsPanel } from '../components/submissionsPanel';
import { SubmitProgress } from '../components/submitProgress';

export const submitPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-gpu-workspace:submit',
  description: 'Submit Project: the checklist, the submission with its progress, and the Submissions panel with receipts and retry.',
  autoStart: true,
  requires: [IWorkspaceModel],
  optional: [ICommandPalette, ITranslator, IHookLogViewer],
  activate: (app: JupyterFrontEnd, model: IWorkspaceModel, palette: ICommandPalette | null, translator: ITranslator | null, viewer: IHookLogViewer | null) => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_gpu_workspace');
    const client = new SubmitClient(model.requester);
    let enabled = false;
    let submitting = false;
    let shell: MainAreaWidget<SubmissionsPanel> | null = null;

    const changed = (): void => {
      app.commands.notifyCommandChanged(CommandIDs.submit);
      app.commands.notifyCommandChanged(CommandIDs.history);
    };

    const openHistory = (): void => {
      if (!shell || shell.isDisposed) {
        const panel = new SubmissionsPanel(client, trans, retry);
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
        () => client.retry(r.id),
        receipt => trans.__('Submission delivered. Receipt %1.', receipt.id)
      );
    }

    const submit = async (): Promise<void> => {
      let submitButton: HTMLButtonElement | null = null;
      const body = new ChecklistBody(client, trans, ready => {
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
        () => client.submit(),
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
      void client
        .list()
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
