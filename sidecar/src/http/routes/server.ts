import type { IdleController } from '../../idle/controller';
import type { JupyterSupervisor } from '../../jupyter/supervisor';
import type { Logger } from '../../log';
import { expectNoFields } from '../body';
import { ApiRoutes, callerOf } from './route';

export interface ServerDeps {
  supervisor: JupyterSupervisor;
  idle: IdleController;
  log: Logger;
}

/** Starting Jupyter again after the idle stop, and restarting it; both answer at once and report progress in status. */
export function serverRoutes(routes: ApiRoutes, deps: ServerDeps): void {
  routes.add('POST /server/start', { whileStopped: true }, (req, res) => {
    expectNoFields(req);
    const { started } = deps.idle.startAgain();
    if (started) {
      deps.log.info('start requested after the idle stop', { user: callerOf(res).identity.username });
    }
    res.status(deps.idle.isStopped ? 202 : 200).json({ jupyter: deps.supervisor.status(), idle: deps.idle.status() });
  });

  routes.add('POST /server/restart', {}, (req, res) => {
    expectNoFields(req);
    const user = callerOf(res).identity.username;
    deps.log.info('restart requested', { user });
    deps.supervisor.requestRestart(`requested by ${user}`);
    res.status(202).json({ jupyter: deps.supervisor.status() });
  });
}
