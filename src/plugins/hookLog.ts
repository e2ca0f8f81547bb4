import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget, Sanitizer } from '@jupyterlab/apputils';
import { renderText } from '@jupyterlab/rendermime';
import { ITranslator, nullTranslator, TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import type { HookEvent, HookRunSummary } from '@jupyterlab-gpu-workspace/api';
import { HooksClient } from '../api/hooks';
import { terminalToLog } from '../terminalText';
import { IHookLogViewer, IWorkspaceModel } from '../tokens';

export const CommandIDs = {
  open: 'gpu-workspace:open-hook-log',
  latest: 'gpu-workspace:open-latest-hook-log'
} as const;

/** Rendering a long log is not free: output arriving in bursts is drawn at most this often. */
const RENDER_EVERY_MS = 150;

/** "exited with code 2", "stopped at its time limit (30 s)", "running…": the run's end in words. */
export function describeRun(run: HookRunSummary, trans: TranslationBundle): string {
  switch (run.state) {
    case 'running':
      return trans.__('Running…');
    case 'succeeded':
      return trans.__('Finished (exit code 0)');
    case 'timed-out':
      return trans.__('Stopped at its time limit of %1 s', run.timeout_seconds);
    default:
      return run.signal ? trans.__('Failed: ended by %1', run.signal) : trans.__('Failed (exit code %1)', run.exit_code ?? '?');
  }
}

/**
 * One hook run's log: its title, command and outcome, and its output with
 * the terminal's colours (JupyterLab's own ANSI rendering, so the theme's
 * colours apply in light and dark). Follows the run live from the model's
 * `hook` events; a gap (a dropped event, a page that opened mid-run) is
 * filled by asking for the output from where the panel's copy ends.
 */
class HookLogPanel extends Widget {
  private run: HookRunSummary | null = null;
  private raw = '';
  private end = 0;
  private renderTimer: number | null = null;
  private fetching: Promise<void> | null = null;
  /** An event came while a read was under way: read again once it ends (the read may predate it). */
  private missed = false;
  private readonly header = document.createElement('div');
  private readonly state = document.createElement('span');
  private readonly command = document.createElement('code');
  private readonly body = document.createElement('div');
  private readonly sanitizer = new Sanitizer();

  constructor(
    readonly runId: string,
    private readonly model: IWorkspaceModel,
    private readonly trans: TranslationBundle,
    private readonly translator: ITranslator
  ) {
    super();
    this.addClass('jp-gpu-workspace-hooklog');
    this.header.className = 'jp-gpu-workspace-hooklog-header';
    this.state.className = 'jp-gpu-workspace-hooklog-state';
    this.state.setAttribute('role', 'status');
    this.command.className = 'jp-gpu-workspace-hooklog-command';
    this.header.append(this.state, this.command);
    this.body.className = 'jp-gpu-workspace-hooklog-output jp-RenderedText';
    this.body.tabIndex = 0;
    this.body.setAttribute('aria-label', trans.__('Hook output'));
    this.node.append(this.header, this.body);
    model.hookEvent.connect(this.onHookEvent, this);
    void this.fetchMore();
  }

  private onHookEvent(_: IWorkspaceModel, event: HookEvent): void {
    if (event.run.id !== this.runId) {
      return;
    }
    if (this.fetching) {
      this.missed = true;
      return;
    }
    if (event.offset === this.end) {
      this.raw += event.chunk;
      this.end += event.chunk.length;
      this.run = event.run;
      this.scheduleRender();
    } else if (event.offset + event.chunk.length > this.end) {
      // Something was missed: read the rest from the sidecar.
      void this.fetchMore();
    } else {
      this.run = event.run;
      this.scheduleRender();
    }
  }

  private fetchMore(): Promise<void> {
    this.fetching ??= (async () => {
      try {
        const answer = await new HooksClient(this.model.requester).run(this.runId, this.end);
        if (answer.output_start > this.end) {
          this.raw += this.trans.__('[… earlier output dropped …]') + '\n';
        }
        this.raw += answer.output;
        this.end = answer.output_end;
        this.run = answer;
      } catch (err) {
        this.raw += `\n${(err as Error).message}\n`;
        this.missed = false;
      } finally {
        this.fetching = null;
        this.scheduleRender();
        if (this.missed) {
          this.missed = false;
          void this.fetchMore();
        }
      }
    })();
    return this.fetching;
  }

  private scheduleRender(): void {
    if (this.renderTimer !== null) {
      return;
    }
    this.renderTimer = window.setTimeout(() => {
      this.renderTimer = null;
      void this.render();
    }, RENDER_EVERY_MS);
  }

  private async render(): Promise<void> {
    const run = this.run;
    if (run) {
      this.title.label = run.title;
      this.state.textContent = describeRun(run, this.trans);
      this.node.dataset.state = run.state;
      this.command.textContent = run.command.join(' ');
    }
    const atBottom = this.body.scrollTop + this.body.clientHeight >= this.body.scrollHeight - 4;
    const host = document.createElement('div');
    await renderText({ host, sanitizer: this.sanitizer, source: terminalToLog(this.raw), translator: this.translator });
    this.body.replaceChildren(...Array.from(host.childNodes));
    if (atBottom) {
      // Following the output, as a terminal does, unless the reader scrolled up.
      this.body.scrollTop = this.body.scrollHeight;
    }
  }

  dispose(): void {
    if (this.renderTimer !== null) {
      clearTimeout(this.renderTimer);
    }
    this.model.hookEvent.disconnect(this.onHookEvent, this);
    super.dispose();
  }
}

/**
 * The operator hooks' log panel. Reset, Submit and anything else that runs a
 * hook offer "Show log" and call `open(runId)`; the palette opens the latest
 * run's log.
 */
export const hookLogPlugin: JupyterFrontEndPlugin<IHookLogViewer> = {
  id: 'jupyterlab-gpu-workspace:hook-log',
  description: "Shows operator hooks' output live, with its colours and exit code.",
  autoStart: true,
  requires: [IWorkspaceModel],
  optional: [ITranslator, ICommandPalette],
  provides: IHookLogViewer,
  activate: (app: JupyterFrontEnd, model: IWorkspaceModel, translator: ITranslator | null, palette: ICommandPalette | null): IHookLogViewer => {
    const tr = translator ?? nullTranslator;
    const trans = tr.load('jupyterlab_gpu_workspace');
    const open = new Map<string, MainAreaWidget<HookLogPanel>>();
    const viewer: IHookLogViewer = {
      open(runId: string): void {
        let widget = open.get(runId);
        if (!widget || widget.isDisposed) {
          widget = new MainAreaWidget({ content: new HookLogPanel(runId, model, trans, tr) });
          widget.id = `gpu-workspace-hook-log-${runId}`;
          widget.title.label = trans.__('Hook log');
          widget.title.closable = true;
          open.set(runId, widget);
          widget.disposed.connect(() => open.delete(runId));
          app.shell.add(widget, 'main', { mode: 'split-bottom' });
        }
        app.shell.activateById(widget.id);
      }
    };
    app.commands.addCommand(CommandIDs.latest, {
      label: trans.__('Show the Latest Hook Log'),
      caption: trans.__("The output of the latest operator hook (post-reset hook, a submission's conversions)"),
      execute: async () => {
        const { runs } = await new HooksClient(model.requester).runs();
        if (runs.length) {
          viewer.open(runs[0].id);
        }
      }
    });
    app.commands.addCommand(CommandIDs.open, {
      label: trans.__('Show Hook Log'),
      execute: args => viewer.open(String(args.runId ?? ''))
    });
    palette?.addItem({ command: CommandIDs.latest, category: trans.__('Workspace') });
    return viewer;
  }
};
