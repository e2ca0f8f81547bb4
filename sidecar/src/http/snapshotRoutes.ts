import type { HomeUsageResponse, SnapshotCreated, TrashEmptied, SnapshotFilesResponse, SnapshotListResponse } from '@jupyterlab-gpu-workspace/api';
import type { ApiRequest as Request, ApiResponse as Response, Router } from './router';
import { badRequest, snapshotsUnavailable } from '../errors';
import { expectNoFields, objectBody } from './body';
import { Logger } from '../log';
import { streamHomeZipAs } from '../snapshots/archive';
import { SnapshotService } from '../snapshots/service';
import { Caller } from './auth';

type Handler = (req: Request, res: Response, caller: Caller) => Promise<void> | void;
type Authed = (handler: Handler) => (req: Request, res: Response) => Promise<void>;

/**
 * The home and snapshot routes. Snapshots and restores answer once done
 * (201/200): the engine runs one operation at a time, so a request that
 * comes while another runs waits its turn; `GET snapshots` shows what runs
 * (`running`, with restic's progress) meanwhile.
 */
export function addSnapshotRoutes(router: Router, authed: Authed, service: () => SnapshotService | undefined, log: Logger): void {
  const engine = (): SnapshotService => {
    const found = service();
    if (!found) {
      throw snapshotsUnavailable('Snapshots are not set up in this workspace.');
    }
    return found;
  };
  router.get(
    '/home/usage',
    authed(async (_req, res) => {
      const snapshots = engine();
      const answer: HomeUsageResponse = snapshots.usage(await snapshots.scan());
      res.json(answer);
    })
  );

  router.post(
    '/home/trash/empty',
    authed(async (req, res, caller) => {
      expectNoFields(req);
      log.info('emptying the Trash', { user: caller.identity.username });
      const answer: TrashEmptied = await engine().emptyTrash();
      res.json(answer);
    })
  );

  router.get(
    '/home/archive',
    authed(async (_req, res, caller) => {
      const snapshots = engine();
      const day = new Date().toISOString().slice(0, 10);
      res.setHeader('content-type', 'application/zip');
      res.setHeader('content-disposition', `attachment; filename="home-${caller.identity.username.replace(/[^A-Za-z0-9_.-]/g, '_')}-${day}.zip"`);
      try {
        await streamHomeZipAs(snapshots.runAs, snapshots.home, snapshots.policy.exclude, res);
      } catch (err) {
        // Headers are gone: all that can be done is to cut the download, so the browser marks it failed.
        log.warn('home archive failed', { error: (err as Error).message });
        res.destroy();
      }
    })
  );

  router.get(
    '/snapshots',
    authed(async (_req, res) => {
      const snapshots = engine();
      await snapshots.whenReady();
      const answer: SnapshotListResponse = {
        snapshots: snapshots.reason === null ? await snapshots.list() : [],
        available: snapshots.reason === null,
        reason: snapshots.reason,
        running: snapshots.activityNow()
      };
      res.json(answer);
    })
  );

  router.post(
    '/snapshots',
    authed(async (req, res, caller) => {
      expectNoFields(req);
      log.info('snapshot requested', { user: caller.identity.username });
      const info = await engine().create('manual');
      const answer: SnapshotCreated = { id: info.id, snapshot: info };
      res.status(201).json(answer);
    })
  );

  router.get(
    '/snapshots/:id/files',
    authed(async (req, res) => {
      const given = req.query.getAll('path');
      const rel = given.length === 0 ? '' : given.length === 1 ? given[0] : null;
      if (rel === null) {
        throw badRequest('"path" must be given once, relative to the home folder.');
      }
      const entries = await engine().files(String(req.params.id), rel);
      const answer: SnapshotFilesResponse = { id: String(req.params.id), path: rel, entries };
      res.json(answer);
    })
  );

  router.post(
    '/snapshots/:id/restore',
    authed(async (req, res, caller) => {
      const b = objectBody(req, ['path']);
      log.info('restore requested', { user: caller.identity.username, id: req.params.id, path: b.path });
      res.json(await engine().restore(String(req.params.id), b.path));
    })
  );

  router.post(
    '/snapshots/:id/restore-home',
    authed(async (req, res, caller) => {
      expectNoFields(req);
      log.info('whole-home restore requested', { user: caller.identity.username, id: req.params.id });
      res.json(await engine().restoreHome(String(req.params.id)));
    })
  );
}
