import type { SnapshotListResponse } from '@jupyterlab-gpu-workspace/api';
import { badRequest, snapshotsUnavailable } from '../../errors';
import type { Logger } from '../../log';
import type { SnapshotService } from '../../snapshots/service';
import { expectNoFields, objectBody } from '../body';
import { ApiRoutes, callerOf } from './route';

export interface SnapshotDeps {
  /** Absent in tests that need none: every route then answers that snapshots are not set up. */
  snapshots?: SnapshotService;
  log: Logger;
}

/** `path` given at most once: the folder (relative to the home) whose entries are listed. */
function folderOf(given: string | string[] | undefined): string {
  if (given === undefined) {
    return '';
  }
  if (typeof given !== 'string') {
    throw badRequest('"path" must be given once, relative to the home folder.');
  }
  return given;
}

/**
 * The snapshot routes. Snapshots and restores answer once done
 * (201/200): the engine runs one operation at a time, so a request that
 * comes while another runs waits its turn; `GET snapshots` shows what runs
 * (`running`, with restic's progress) meanwhile.
 */
/** The snapshot service, or the refusal that says it is not set up. */
export function engineOf(snapshots: SnapshotService | undefined): () => SnapshotService {
  return () => {
    if (!snapshots) {
      throw snapshotsUnavailable('Snapshots are not set up in this workspace.');
    }
    return snapshots;
  };
}

export function snapshotRoutes(routes: ApiRoutes, { snapshots, log }: SnapshotDeps): void {
  const engine = engineOf(snapshots);

  routes.add('GET /snapshots', {}, async (_req, res) => {
    const found = engine();
    await found.whenReady();
    const answer: SnapshotListResponse = {
      snapshots: found.reason === null ? await found.list() : [],
      available: found.reason === null,
      reason: found.reason,
      running: found.activityNow()
    };
    res.json(answer);
  });

  routes.add('POST /snapshots', {}, async (req, res) => {
    expectNoFields(req);
    log.info('snapshot requested', { user: callerOf(res).identity.username });
    const info = await engine().create('manual');
    res.status(201).json({ id: info.id, snapshot: info });
  });

  routes.add('GET /snapshots/:id/files', {}, async (req, res) => {
    const rel = folderOf(req.query.path);
    const entries = await engine().files(req.params.id, rel);
    res.json({ id: req.params.id, path: rel, entries });
  });

  routes.add('POST /snapshots/:id/restore', {}, async (req, res) => {
    const b = objectBody(req, ['path']);
    log.info('restore requested', { user: callerOf(res).identity.username, id: req.params.id, path: b.path });
    res.json(await engine().restore(req.params.id, b.path));
  });

  routes.add('POST /snapshots/:id/restore-home', {}, async (req, res) => {
    expectNoFields(req);
    log.info('whole-home restore requested', { user: callerOf(res).identity.username, id: req.params.id });
    res.json(await engine().restoreHome(req.params.id));
  });
}
