import type { Logger } from '../../log';
import { streamHomeZipAs } from '../../snapshots/archive';
import type { SnapshotService } from '../../snapshots/service';
import { expectNoFields } from '../body';
import { ApiRoutes, callerOf } from './route';
import { engineOf } from './snapshots';

export interface HomeDeps {
  /** Absent in tests that need none: every route then answers that snapshots are not set up. */
  snapshots?: SnapshotService;
  log: Logger;
}

/** The home folder as a whole: its size against the cap, its Trash, and the whole of it as a zip. */
export function homeRoutes(routes: ApiRoutes, { snapshots, log }: HomeDeps): void {
  const engine = engineOf(snapshots);

  routes.add('GET /home/usage', {}, async (_req, res) => {
    const found = engine();
    res.json(found.usage(await found.scan()));
  });

  routes.add('POST /home/trash/empty', {}, async (req, res) => {
    expectNoFields(req);
    log.info('emptying the Trash', { user: callerOf(res).identity.username });
    res.json(await engine().emptyTrash());
  });

  routes.add('GET /home/archive', {}, async (_req, res) => {
    const found = engine();
    const day = new Date().toISOString().slice(0, 10);
    res.setHeader('content-type', 'application/zip');
    res.setHeader('content-disposition', `attachment; filename="home-${callerOf(res).identity.username.replace(/[^A-Za-z0-9_.-]/g, '_')}-${day}.zip"`);
    try {
      await streamHomeZipAs(found.runAs, found.home, found.policy.exclude, res);
    } catch (err) {
      // Headers are gone: all that can be done is to cut the download, so the browser marks it failed.
      log.warn('home archive failed', { error: (err as Error).message });
      res.destroy();
    }
  });
}
