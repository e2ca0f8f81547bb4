import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import { formatDuration, formatWhen, remainingNow } from '../format';
import { IUsage, IWorkspaceModel } from '../tokens';

/** The meter's words and colour from the model, computed once per render for both places. */
export function meterView(model: IWorkspaceModel, trans: TranslationBundle) {
  const status = model.status;
  if (!status) {
    return null;
  }
  const q = status.quota;
  const left = remainingNow(q.remaining_seconds, q.burn_rate, model.statusReceivedAt);
  const minutesLeft = left / 60;
  const warnAt = q.warn_minutes;
  const level = left <= 0 ? 'empty' : warnAt.length && minutesLeft <= Math.min(...warnAt) ? 'critical' : warnAt.length && minutesLeft <= Math.max(...warnAt) ? 'low' : 'ok';
  const burning = status.gpu.mode === 'on' && q.burn_rate > 0;
  const forecast = burning && left > 0 ? formatWhen(Date.now() + (left / q.burn_rate) * 1000) : null;
  return { status, left, level, burning, forecast, text: trans.__('GPU %1 left', formatDuration(left, trans)) };
}

export class TopBarMeter extends Widget {
  constructor(
    private readonly model: IWorkspaceModel,
    private readonly trans: TranslationBundle,
    private readonly openUsage: () => void
  ) {
    super({ node: document.createElement('button') });
    this.addClass('jp-gpu-workspace-meter');
    this.addClass('jp-gpu-workspace-meter-topbar');
    (this.node as HTMLButtonElement).type = 'button';
    this.node.addEventListener('click', () => this.openUsage());
  }

  render(visible: boolean): void {
    const view = meterView(this.model, this.trans);
    this.setHidden(!visible || !view);
    if (!view) {
      return;
    }
    this.node.textContent = view.text;
    this.node.dataset.level = view.level;
    this.node.dataset.burning = String(view.burning);
    const tip = view.burning
      ? this.trans.__('GPU mode is on: hours are being charged. At this rate: empty %1. Click for usage.', view.forecast ?? '')
      : this.trans.__('GPU hours left in this period. Click for usage.');
    this.node.title = tip;
    this.node.setAttribute('aria-label', `${view.text}. ${tip}`);
  }
}

export class StatusBarMeter extends Widget {
  constructor(
    private readonly model: IWorkspaceModel,
    private readonly trans: TranslationBundle,
    private readonly openUsage: () => void
  ) {
    super();
    this.addClass('jp-gpu-workspace-meter');
    this.addClass('jp-gpu-workspace-meter-statusbar');
    this.node.tabIndex = 0;
    this.node.setAttribute('role', 'button');
    this.node.addEventListener('click', () => this.openUsage());
    this.node.addEventListener('keydown', e => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        this.openUsage();
      }
    });
  }

  render(visible: boolean): void {
    const view = meterView(this.model, this.trans);
    this.setHidden(!visible || !view);
    if (!view) {
      return;
    }
    const gpu = view.status.gpu;
    const parts = [view.text];
    if (gpu.mode === 'on') {
      const readings = gpu.devices.map(d => d.utilization_percent).filter((u): u is number => u !== null);
      const util = gpu.utilization_error || !readings.length ? this.trans.__('util unknown') : this.trans.__('%1% util', Math.max(...readings));
      const used = gpu.devices.reduce((a, d) => a + d.memory_used_mib, 0) / 1024;
      const total = gpu.devices.reduce((a, d) => a + d.memory_total_mib, 0) / 1024;
      parts.unshift(this.trans.__('GPU on'));
      parts.push(util, this.trans.__('%1/%2 GiB', used.toFixed(1), total.toFixed(0)));
      if (view.forecast) {
        parts.push(this.trans.__('empty %1', view.forecast));
      }
    } else if (gpu.mode === 'switching') {
      parts.unshift(this.trans.__('GPU switching…'));
    }
    this.node.textContent = parts.join(' · ');
    this.node.dataset.level = view.level;
    this.node.dataset.burning = String(view.burning);
    this.node.title = gpu.utilization_error
      ? this.trans.__('GPU usage this period. Click for details. GPU utilisation cannot be read: %1', gpu.utilization_error)
      : this.trans.__('GPU usage this period. Click for details.');
  }
}

/** The usage panel: this period's sessions and grants, next reset, forecast. */
export class UsageBody extends Widget {
  constructor(usage: IUsage, model: IWorkspaceModel, trans: TranslationBundle) {
    super();
    this.addClass('jp-gpu-workspace-usage');
    const q = usage.quota;
    const rows: Array<[string, string]> = [
      [trans.__('Left'), formatDuration(q.remaining_seconds, trans)],
      [trans.__('Used'), formatDuration(q.used_seconds, trans)],
      [trans.__('Allocation'), formatDuration(q.allocation_seconds, trans)],
      [trans.__('Of which granted'), formatDuration(q.granted_seconds, trans)],
      [trans.__('Period'), q.period],
      [trans.__('Next reset'), q.next_reset ? new Date(q.next_reset).toLocaleString() : trans.__('never')]
    ];
    if (model.status?.gpu.mode === 'on' && q.burn_rate > 0) {
      rows.push([trans.__('At this rate'), trans.__('empty %1', formatWhen(Date.now() + (q.remaining_seconds / q.burn_rate) * 1000))]);
    }
    const summary = document.createElement('dl');
    for (const [k, v] of rows) {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      summary.append(dt, dd);
    }
    this.node.append(summary);
    this.node.append(this.table(trans.__('GPU sessions this period'), [trans.__('Started'), trans.__('Ended'), trans.__('Profile'), trans.__('Charged')],
      usage.sessions.map(s => [
        new Date(s.started_at).toLocaleString(),
        s.ended_at ? new Date(s.ended_at).toLocaleString() : trans.__('running'),
        s.weight === 1 ? s.profile : `${s.profile} (${s.weight}×)`,
        formatDuration(s.charged_seconds, trans)
      ]), trans.__('No GPU sessions yet in this period.')));
    this.node.append(this.table(trans.__('Grants'), [trans.__('When'), trans.__('Hours'), trans.__('Reason')],
      usage.grants.map(g => [new Date(g.at).toLocaleString(), String(g.hours), g.reason]), trans.__('No grants in this period.')));
  }

  private table(title: string, head: string[], rows: string[][], empty: string): HTMLElement {
    const section = document.createElement('section');
    const h = document.createElement('h3');
    h.textContent = title;
    section.append(h);
    if (!rows.length) {
      const p = document.createElement('p');
      p.textContent = empty;
      section.append(p);
      return section;
    }
    const table = document.createElement('table');
    const tr = table.createTHead().insertRow();
    head.forEach(text => {
      const th = document.createElement('th');
      th.textContent = text;
      tr.append(th);
    });
    const body = table.createTBody();
    rows.forEach(r => {
      const row = body.insertRow();
      r.forEach(text => (row.insertCell().textContent = text));
    });
    section.append(table);
    return section;
  }
}
