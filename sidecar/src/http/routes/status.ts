import type { IsolationStatus, StatusResponse } from '@jupyterlab-gpu-workspace/api';
import type { GpuService } from '../../gpu/service';
import type { IdleController } from '../../idle/controller';
import type { JupyterSupervisor } from '../../jupyter/supervisor';
import { API_VERSION, VERSION } from '../../version';
import type { LiveEvents } from '../liveEvents';
import { ApiRoutes, callerOf } from './route';

export interface StatusDeps {
  supervisor: JupyterSupervisor;
  gpu: GpuService;
  idle: IdleController;
  isolation: IsolationStatus;
  events: LiveEvents;
}

/** Liveness, the whole status in one answer, and the same kept live as Server-Sent Events. */
export function statusRoutes(routes: ApiRoutes, deps: StatusDeps): void {
  routes.add('GET /health', { public: true }, (_req, res) => {
    res.json({ status: 'ok' });
  });

  routes.add('GET /status', { kernel: true, whileStopped: true }, (_req, res) => {
    const { identity } = callerOf(res);
    const body: StatusResponse = {
      version: VERSION,
      api_version: API_VERSION,
      jupyter: deps.supervisor.status(),
      user: { username: identity.username, name: identity.name ?? identity.username },
      isolation: deps.isolation,
      gpu: deps.gpu.status(),
      quota: deps.gpu.quotaStatus(),
      idle: deps.idle.status()
    };
    res.json(body);
  });

  routes.add('GET /events', { whileStopped: true }, (_req, res) => {
    deps.events.subscribe(res);
  });
}
