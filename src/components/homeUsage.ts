import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import { HomeUsageResponse } from '@jupyterlab-gpu-workspace/api';
import { formatBytes, usageLevel } from '../format';
import { SnapshotsClient } from '../api/snapshots';
import { button as makeButton } from '../dom';

/** How often the usage meter asks for the home's size while the page is visible. */
export const USAGE_POLL_MS = 60_000;
/** After a file is saved, deleted or renamed in JupyterLab, the meter asks again this soon (one ask for a burst). */
export const AFTER_CHANGE_MS = 1_000;

export const button = (label: string, onClick: () => void, className = 'jp-gpu-workspace-snapshots-button'): HTMLButtonElement => makeButton(label, onClick, className);

/** The home's usage, fetched on a slow poll and after every snapshot action; the meter and the panel read it. */
export class HomeUsage {
  value: HomeUsageResponse | null = null;
  private readonly listeners = new Set<() => void>();
  private timer: number | null = null;
  private soonTimer: number | null = null;

  constructor(private readonly client: SnapshotsClient) {}

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async refresh(): Promise<void> {
    try {
      this.value = await this.client.usage();
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
export class HomeUsageItem extends Widget {
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
