import { badRequest } from '../../errors';
import type { IdleController } from '../../idle/controller';
import type { LeaseTable } from '../../idle/leases';
import { expectNoFields, objectBody } from '../body';
import { ApiRoutes } from './route';

export interface LeaseDeps {
  idle: IdleController;
  leases: LeaseTable;
}

const LEASE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function leaseId(id: string): string {
  if (!LEASE_ID.test(id)) {
    throw badRequest('The lease id must be the id POST leases answered with.');
  }
  return id;
}

/** What keeps the workspace awake: the page's activity, and keep-awake leases held by notebook code (the kernel token may). */
export function leaseRoutes(routes: ApiRoutes, deps: LeaseDeps): void {
  routes.add('POST /activity', {}, (req, res) => {
    expectNoFields(req);
    deps.idle.activity('user');
    res.json({ idle: deps.idle.status() });
  });

  routes.add('POST /leases', { kernel: true }, (req, res) => {
    const body = objectBody(req, ['label', 'pid', 'ttl_seconds']);
    const acquired = deps.leases.acquire(body.label, body.pid, body.ttl_seconds);
    const { max_hours: maxHours, heartbeat_seconds } = deps.idle.status();
    res.status(201).json({
      lease: acquired.lease,
      ttl_seconds: acquired.ttlSeconds,
      capped: acquired.capped,
      note: acquired.capped ? `The ttl asked for is longer than the cap (keep_awake.max_hours: ${maxHours} h): the lease ends after ${maxHours} h.` : null,
      heartbeat_seconds
    });
  });

  routes.add('POST /leases/:id/heartbeat', { kernel: true }, (req, res) => {
    expectNoFields(req);
    res.json({ lease: deps.leases.heartbeat(leaseId(req.params.id)) });
  });

  routes.add('DELETE /leases/:id', { kernel: true, whileStopped: true }, (req, res) => {
    deps.leases.release(leaseId(req.params.id));
    res.json({ idle: deps.idle.status() });
  });
}
