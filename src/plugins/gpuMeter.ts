import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Dialog, ICommandPalette, IToolbarWidgetRegistry, Notification, showDialog } from '@jupyterlab/apputils';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import { ITranslator, nullTranslator, TranslationBundle } from '@jupyterlab/translation';
import { formatDuration, remainingNow } from '../format';
import { IWorkspaceModel, IWorkspaceStatus } from '../tokens';
import { GpuCommandIDs } from './gpuToggle';

const PLUGIN_ID = 'jupyterlab-gpu-workspace:gpu-meter';
export const MeterCommandIDs = { usage: 'gpu-workspace:show-gpu-usage' } as const;

type Placement = 'both' | 'top-bar' | 'status-bar';
type WarningStyle = 'popup' | 'quiet';

interface IMeterSettings {
  placement: Placement;
  warningStyle: WarningStyle;
}
import { StatusBarMeter, TopBarMeter, UsageBody } from '../components/gpuMeter';

/**
 * Warnings a user must not miss: staged hours-left warnings, the coming switch
 * to CPU mode when hours run out (documents are saved before it), and an idle
 * GPU burning hours. The switch itself is the sidecar's, made once for every
 * open tab, whether or not one is open.
 */
class QuotaWatcher {
  private warned = new Set<number>();
  private idleWarnedFor: string | null = null;
  private exhaustionAnnounced: string | null = null;
  private watchdogSeen: string | null | undefined = undefined;
  private lastMode: string | null = null;
  private lastRefreshAt = 0;

  constructor(
    private readonly app: JupyterFrontEnd,
    private readonly model: IWorkspaceModel,
    private readonly trans: TranslationBundle,
    private readonly settings: () => IMeterSettings
  ) {}

  check(): void {
    const status = this.model.status;
    if (!status) {
      return;
    }
    const q = status.quota;
    const left = remainingNow(q.remaining_seconds, q.burn_rate, this.model.statusReceivedAt);
    const autoClose = this.settings().warningStyle === 'quiet' ? 0 : false;
    this.watchWatchdog(status.gpu.watchdog_stopped, autoClose);
    const wasOn = this.lastMode === 'on';
    this.lastMode = status.gpu.mode;
    if (wasOn && status.gpu.mode !== 'on' && status.gpu.switch_reason === 'quota_exhausted' && this.exhaustionAnnounced === null) {
      // The switch came before this page heard it announced (a short grace, a hidden tab): say why now.
      Notification.error(
        this.trans.__('Your GPU hours for this period are used up: the workspace switched to CPU mode. Your open documents are kept; save them.'),
        { autoClose: false }
      );
    }
    if (status.gpu.mode === 'on' && left <= 0 && this.exhaustionAnnounced === null && Date.now() - this.lastRefreshAt > 2000) {
      // The countdown reached zero here: ask now rather than at the next poll, so the grace period is not missed.
      this.lastRefreshAt = Date.now();
      void this.model.refresh().catch(() => undefined);
    }
    if (status.gpu.mode === 'on') {
      // Only the lowest threshold crossed is announced, once.
      const crossed = q.warn_minutes.filter(m => left <= m * 60 && !this.warned.has(m));
      if (crossed.length && left > 0) {
        crossed.forEach(m => this.warned.add(m));
        Notification.warning(this.trans.__('GPU hours are running low: %1 left in this period. Save your work.', formatDuration(left, this.trans)), {
          autoClose,
          actions: [{ label: this.trans.__('Disable GPU'), callback: () => void this.app.commands.execute(GpuCommandIDs.toggle, { enabled: false }) }]
        });
      }
      this.watchExhaustion(status.gpu.exhausted_switch_at);
      if (status.gpu.idle_warning && status.gpu.idle_since !== this.idleWarnedFor) {
        this.idleWarnedFor = status.gpu.idle_since;
        Notification.warning(
          this.trans.__(
            'The GPU has been idle for %1 minutes while GPU mode is on: your GPU hours are burning. Disable GPU mode if you do not need it.',
            status.gpu.idle_warning_minutes
          ),
          {
            autoClose,
            actions: [{ label: this.trans.__('Disable GPU'), callback: () => void this.app.commands.execute(GpuCommandIDs.toggle, { enabled: false }) }]
          }
        );
      }
    } else if (status.gpu.mode === 'off') {
      this.exhaustionAnnounced = null;
      this.lastRefreshAt = 0;
      if (left > 0) {
        this.warned = new Set([...this.warned].filter(m => left <= m * 60));
      }
    }
  }

  /** A process of this workspace used the GPU in CPU mode and was stopped: say which and why. */
  private watchWatchdog(stops: IWorkspaceStatus['gpu']['watchdog_stopped'], autoClose: false | 0): void {
    const newest = stops[0] ? `${stops[0].pid}@${stops[0].at}` : null;
    if (this.watchdogSeen === undefined) {
      // What was stopped before this page loaded is old news.
      this.watchdogSeen = newest;
      return;
    }
    if (newest === null || newest === this.watchdogSeen) {
      return;
    }
    this.watchdogSeen = newest;
    const stop = stops[0];
    Notification.warning(
      this.trans.__(
        'A process used the GPU in CPU mode and was stopped (pid %1: %2). Enable GPU mode to use the GPU; GPU time is charged then.',
        stop.pid,
        stop.command
      ),
      {
        autoClose,
        actions: [{ label: this.trans.__('Enable GPU'), callback: () => void this.app.commands.execute(GpuCommandIDs.toggle, { enabled: true }) }]
      }
    );
  }

  /** The sidecar announced the switch to CPU mode: save everything now and say when it happens. */
  private watchExhaustion(switchAt: string | null): void {
    if (switchAt === this.exhaustionAnnounced) {
      return;
    }
    const previous = this.exhaustionAnnounced;
    this.exhaustionAnnounced = switchAt;
    if (switchAt === null) {
      if (previous !== null) {
        Notification.success(this.trans.__('GPU hours were added: GPU mode stays on.'), { autoClose: 10_000 });
      }
      return;
    }
    const when = new Date(switchAt).toLocaleTimeString();
    void this.app.commands
      .execute('docmanager:save-all')
      .then(
        () => this.trans.__('Your GPU hours for this period are used up. Your documents were saved; the workspace switches to CPU mode at %1.', when),
        (err: unknown) =>
          this.trans.__(
            'Your GPU hours for this period are used up; the workspace switches to CPU mode at %1. Saving your documents failed (%2): save them now.',
            when,
            err instanceof Error ? err.message : String(err)
          )
      )
      .then(message => Notification.error(message, { autoClose: false }));
  }
}

export const gpuMeterPlugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'The GPU-hours meter (top bar and status bar), the usage panel and the quota warnings.',
  autoStart: true,
  requires: [IWorkspaceModel],
  optional: [IToolbarWidgetRegistry, IStatusBar, ISettingRegistry, ICommandPalette, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    model: IWorkspaceModel,
    toolbarRegistry: IToolbarWidgetRegistry | null,
    statusBar: IStatusBar | null,
    settingRegistry: ISettingRegistry | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null
  ) => {
    const trans = (translator ?? nullTranslator).load('jupyterlab_gpu_workspace');
    let settings: IMeterSettings = { placement: 'both', warningStyle: 'popup' };
    const openUsage = (): void => void app.commands.execute(MeterCommandIDs.usage);

    app.commands.addCommand(MeterCommandIDs.usage, {
      label: trans.__('GPU Usage…'),
      caption: trans.__('GPU hours left, sessions and grants this period'),
      execute: async () => {
        try {
          const usage = await model.usage();
          await showDialog({
            title: trans.__('GPU usage'),
            body: new UsageBody(usage, model, trans),
            buttons: [Dialog.okButton({ label: trans.__('Close') })]
          });
        } catch (err) {
          Notification.error(trans.__('GPU usage could not be loaded: %1', (err as Error).message));
        }
      }
    });
    palette?.addItem({ command: MeterCommandIDs.usage, category: trans.__('Workspace') });

    const top = new TopBarMeter(model, trans, openUsage);
    const bottom = new StatusBarMeter(model, trans, openUsage);
    const watcher = new QuotaWatcher(app, model, trans, () => settings);
    const render = (): void => {
      top.render(settings.placement !== 'status-bar');
      bottom.render(settings.placement !== 'top-bar');
      watcher.check();
    };
    toolbarRegistry?.addFactory('TopBar', 'gpu-meter', () => top);
    statusBar?.registerStatusItem(PLUGIN_ID, { item: bottom, align: 'left', rank: 110 });
    model.changed.connect(render);
    // Count down between polls while GPU time burns, so the meter never looks frozen.
    window.setInterval(() => {
      if (model.status?.quota.burn_rate) {
        render();
      }
    }, 1000);
    render();

    if (settingRegistry) {
      void Promise.all([app.restored, settingRegistry.load(PLUGIN_ID)]).then(([, loaded]) => {
        const apply = (): void => {
          settings = loaded.composite as unknown as IMeterSettings;
          render();
        };
        loaded.changed.connect(apply);
        apply();
      });
    }
  }
};
