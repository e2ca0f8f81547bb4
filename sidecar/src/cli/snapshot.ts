/**
 * `gpu-workspace snapshot create|list|restore|check`: the operator's hands on
 * a workspace's home snapshots from a shell. It opens the same repository as
 * a running sidecar; restic's own repository locks keep the two apart (a
 * check waits for no one: while the sidecar writes a snapshot it fails with
 * "locked", and says so), and it never creates a repository.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ParseArgsConfig, parseArgs } from 'node:util';
import { loadWorkspaceConfig } from '../workspaceConfig';
import { StartupError, WorkspaceError } from '../errors';
import { RunAs } from '../jupyter/launch';
import { lookupUser } from '../jupyter/notebookUser';
import { createLogger } from '../log';
import { repoLayout } from '../snapshots/repository';
import { formatBytes } from '@jupyterlab-gpu-workspace/api';
import { SnapshotService, snapshotPolicy } from '../snapshots/service';

const USAGE =
  'usage: gpu-workspace snapshot create|list|check --state-dir S [--config C] [--home H] [--json] | ' +
  'snapshot restore --id ID (--path P | --whole-home) --state-dir S [--config C]';

class UsageError extends Error {}

function parse(args: string[], options: ParseArgsConfig['options']): Record<string, string | boolean | undefined> {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw new UsageError(`${(err as Error).message} (${USAGE})`);
  }
}

const COMMON: ParseArgsConfig['options'] = {
  'state-dir': { type: 'string' },
  config: { type: 'string' },
  home: { type: 'string' },
  json: { type: 'boolean', default: false }
};

/** Opens the workspace's repository as the sidecar set it up; the home is the one the sidecar snapshots unless --home says otherwise. */
async function openService(values: Record<string, string | boolean | undefined>): Promise<SnapshotService> {
  const stateDir = values['state-dir'];
  if (typeof stateDir !== 'string' || !stateDir) {
    throw new UsageError('--state-dir is required: the state directory of the workspace whose snapshots to use.');
  }
  const config = loadWorkspaceConfig(typeof values.config === 'string' ? values.config : undefined);
  const layout = repoLayout(stateDir, config.snapshots.restic);
  let home = typeof values.home === 'string' ? values.home : '';
  if (!home) {
    try {
      home = fs.readFileSync(layout.homeFile, 'utf8').trim();
    } catch {
      throw new StartupError(`${layout.homeFile} is missing: start the workspace once, or name the home folder with --home.`);
    }
  }
  const runAs: RunAs | null = config.jupyter.user ? { user: lookupUser(config.jupyter.user), deviceGid: null } : null;
  const service = new SnapshotService({
    home: path.resolve(home),
    stateDir,
    // The CLI never restores on its own nor runs a schedule; retention applies as in the sidecar.
    policy: { ...snapshotPolicy(config), restore_empty_home: false, schedule_minutes: 0 },
    runAs,
    log: createLogger('warn', 'snapshot-cli'),
    create: false
  });
  await service.init();
  if (service.reason !== null) {
    throw new StartupError(service.reason);
  }
  return service;
}

async function run(sub: string | undefined, rest: string[]): Promise<void> {
  if (sub === 'create') {
    const values = parse(rest, COMMON);
    const service = await openService(values);
    const info = await service.create('manual');
    process.stdout.write(values.json ? `${JSON.stringify(info)}\n` : `Snapshot ${info.id} taken (${formatBytes(info.size_bytes ?? 0)}, ${info.changes ?? 0} files new or changed).\n`);
  } else if (sub === 'list') {
    const values = parse(rest, COMMON);
    const list = await (await openService(values)).list();
    if (values.json) {
      process.stdout.write(`${JSON.stringify(list)}\n`);
    } else {
      for (const s of list) {
        process.stdout.write(`${s.id}  ${s.time}  ${s.trigger.padEnd(14)}  ${s.size_bytes === null ? '?' : formatBytes(s.size_bytes)}  ${s.changes ?? '?'} changes\n`);
      }
      if (!list.length) {
        process.stdout.write('No snapshots yet.\n');
      }
    }
  } else if (sub === 'restore') {
    const values = parse(rest, { ...COMMON, id: { type: 'string' }, path: { type: 'string' }, 'whole-home': { type: 'boolean', default: false } });
    if (typeof values.id !== 'string') {
      throw new UsageError(`--id is required: the snapshot to restore from (see "snapshot list"). ${USAGE}`);
    }
    if ((typeof values.path === 'string') === (values['whole-home'] === true)) {
      throw new UsageError(`Give either --path (a file or folder relative to the home) or --whole-home. ${USAGE}`);
    }
    const service = await openService(values);
    if (values['whole-home']) {
      const { undo_snapshot } = await service.restoreHome(values.id);
      process.stdout.write(`Home restored from ${values.id}; what it held before is snapshot ${undo_snapshot}.\n`);
    } else {
      const { restored_to } = await service.restore(values.id, values.path);
      process.stdout.write(`Restored to ${restored_to}\n`);
    }
  } else if (sub === 'check') {
    const values = parse(rest, COMMON);
    const { ok, output } = await (await openService(values)).check();
    process.stdout.write(output);
    if (!ok) {
      throw new StartupError('The snapshot repository has errors (restic check failed; see above).');
    }
    process.stdout.write('The snapshot repository is healthy.\n');
  } else {
    throw new UsageError(`${sub === undefined ? 'missing snapshot command' : `unknown snapshot command "${sub}"`}. ${USAGE}`);
  }
}

/** Bad input exits 2; a repository or snapshot problem exits 1, with its message and never a stack trace. */
export async function runSnapshot(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  try {
    await run(sub, rest);
  } catch (err) {
    if (err instanceof UsageError || (err instanceof WorkspaceError && err.status === 400)) {
      process.stderr.write(`gpu-workspace: ${err.message}\n`);
      process.exitCode = 2;
    } else if (err instanceof StartupError || err instanceof WorkspaceError) {
      process.stderr.write(`gpu-workspace: ${err.message}\n`);
      process.exitCode = 1;
    } else {
      throw err;
    }
  }
}
