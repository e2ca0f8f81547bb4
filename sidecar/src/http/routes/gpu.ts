import { badRequest } from '../../errors';
import type { GpuService } from '../../gpu/service';
import type { JupyterSupervisor } from '../../jupyter/supervisor';
import type { Ledger } from '../../quota/ledger';
import { objectBody } from '../body';
import { ApiRoutes, callerOf } from './route';

export interface GpuDeps {
  gpu: GpuService;
  ledger: Ledger;
  supervisor: JupyterSupervisor;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** GPU mode, the hours it has used, and the operator's grants of more. */
export function gpuRoutes(routes: ApiRoutes, deps: GpuDeps): void {
  // A switch answers 202 at once: its progress and outcome are in status.
  routes.add('POST /gpu', {}, (req, res) => {
    const body = objectBody(req, ['enabled', 'profile']);
    if (typeof body.enabled !== 'boolean') {
      throw badRequest('"enabled" must be true or false.');
    }
    if (body.profile !== undefined && typeof body.profile !== 'string') {
      throw badRequest('"profile" must be the name of a GPU profile.');
    }
    const { started } = deps.gpu.requestSwitch(body.enabled, body.profile, callerOf(res).identity.username);
    res.status(started ? 202 : 200).json({ gpu: deps.gpu.status(), quota: deps.gpu.quotaStatus(), jupyter: deps.supervisor.status() });
  });

  routes.add('GET /usage', {}, (_req, res) => {
    const quota = deps.gpu.quotaStatus();
    const since = quota.window_start === null ? null : Date.parse(quota.window_start);
    res.json({
      quota,
      sessions: deps.ledger.sessions(since).map(s => ({
        id: s.id,
        profile: s.profile,
        weight: s.weight,
        started_at: iso(s.started_at_ms),
        ended_at: s.ended_at_ms === null ? null : iso(s.ended_at_ms),
        charged_seconds: s.charged_seconds
      })),
      grants: deps.ledger.grants(since).map(g => ({ id: g.id, at: iso(g.granted_at_ms), hours: g.hours, reason: g.reason, actor: g.actor }))
    });
  });

  routes.add('POST /quota/grants', { operator: true }, (req, res) => {
    const body = objectBody(req, ['hours', 'reason']);
    if (typeof body.hours !== 'number') {
      throw badRequest('"hours" must be a number.');
    }
    if (typeof body.reason !== 'string') {
      throw badRequest('"reason" must be a string saying why the hours are granted.');
    }
    const grant = deps.gpu.grant({ hours: body.hours, reason: body.reason, actor: 'operator-api' });
    res.status(201).json({ grant, quota: deps.gpu.quotaStatus() });
  });
}
