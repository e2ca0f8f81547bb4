/** The sidecar API's routes as its real router serves them, for tests that walk every one. */
import { ApiDeps, apiRoutes } from '../../src/http/api';
import { createLogger } from '../../src/log';

/** Every route and method the real router serves (e.g. { method: 'POST', route: '/snapshots/:id/restore' }). */
export function servedRoutes(): Array<{ method: string; route: string }> {
  const unused = new Proxy({}, { get: () => { throw new Error('unused'); } });
  const deps = { prefix: '/', supervisor: unused, auth: unused, gpu: unused, ledger: unused, isolation: unused, operatorToken: undefined, maxBodyBytes: 1, log: createLogger('error') } as unknown as ApiDeps;
  const out: Array<{ method: string; route: string }> = [];
  for (const [route, methods] of apiRoutes(deps).methodsByPath()) {
    for (const method of new Set(methods)) {
      out.push({ method, route });
    }
  }
  return out;
}

/** A route with its `:name` segments filled in with values that look right (a real lease id's shape). */
export function concreteRoute(route: string): string {
  return route.replace(/:id/g, '00000000-0000-4000-8000-000000000000').replace(/:[a-z_]+/g, 'x').replace(/^\//, '');
}
