import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { loadWorkspaceConfig } from '../workspaceConfig';
import { StartupError } from '../errors';
import { createLogger, Logger } from '../log';
import type { WorkspaceConfig } from '../config/schema';
import { runQuota } from './quota';
import { runSnapshot } from './snapshot';
import { serve } from '../workspace';
import { VERSION } from '../version';

const USAGE = `gpu-workspace ${VERSION}

Usage:
  gpu-workspace serve --port P --home H --state-dir S [--config C] [--token T]
  gpu-workspace quota grant --hours H --reason R --state-dir S
  gpu-workspace quota show --state-dir S [--config C] [--json]
  gpu-workspace snapshot create|list|check --state-dir S [--config C] [--home H] [--json]
  gpu-workspace snapshot restore --id ID (--path P | --whole-home) --state-dir S [--config C]

Commands:
  serve       Start JupyterLab behind the sidecar and print the URL to open.
  quota grant Add H GPU hours to the user's allocation; the reason goes in the audit log.
  quota show  Print the GPU hours allocated, used and left in the current period.
  snapshot    Take (create), list, restore from or verify (check: exit 0 when healthy) the
              home snapshots in the state directory's restic repository.

Options for serve:
  --port P        Port to listen on (default 8888; 0 picks a free one).
  --home H        The user's home folder: Jupyter's root directory.
  --state-dir S   Where the sidecar keeps secrets, the socket, the ledger and snapshots.
                  Keep it outside the home folder.
  --config C      Operator config file (YAML or JSON). Env overrides: GPU_WORKSPACE__KEY__SUBKEY=value.
  --token T       Token for the browser and API (default: GPU_WORKSPACE_TOKEN, else one kept in the state dir).
                  Prefer GPU_WORKSPACE_TOKEN: a command line is visible to every user of the machine.
  --host ADDR     Address to listen on (overrides listen_host; default 127.0.0.1).
  --base-url U    URL prefix such as /user/alice/ (overrides base_url).
`;

function fail(message: string, code = 2): never {
  process.stderr.write(`gpu-workspace: ${message}\n`);
  process.exit(code);
}

interface ServeArgs {
  port: number;
  home: string;
  stateDir: string;
  configFile: string | undefined;
  /** Given on the command line (visible in the process list), not through GPU_WORKSPACE_TOKEN. */
  tokenOnCommandLine: boolean;
  token: string | undefined;
  /** The environment with --host and --base-url as the config overrides they stand for. */
  env: NodeJS.ProcessEnv;
}

/** `serve`'s arguments, checked; a wrong one ends the process with what to write instead. */
function parseServeArgs(args: string[]): ServeArgs {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string', default: '8888' },
      home: { type: 'string' },
      'state-dir': { type: 'string' },
      config: { type: 'string' },
      token: { type: 'string' },
      host: { type: 'string' },
      'base-url': { type: 'string' }
    },
    strict: true
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    fail(`--port must be a whole number from 0 to 65535, not "${values.port}".`);
  }
  if (!values.home) {
    fail('--home is required: the folder the user works in.');
  }
  if (!values['state-dir']) {
    fail('--state-dir is required: where the sidecar keeps its state, outside the home folder.');
  }
  const env = { ...process.env };
  if (values.host) {
    env.GPU_WORKSPACE__LISTEN_HOST = JSON.stringify(values.host);
  }
  if (values['base-url']) {
    env.GPU_WORKSPACE__BASE_URL = JSON.stringify(values['base-url']);
  }
  const token = values.token ?? process.env.GPU_WORKSPACE_TOKEN;
  if (token !== undefined && !/^[A-Za-z0-9_.~-]{8,}$/.test(token)) {
    fail('--token must be at least 8 characters of letters, digits, "-", "_", "." or "~".');
  }
  return { port, home: values.home, stateDir: values['state-dir'], configFile: values.config, tokenOnCommandLine: values.token !== undefined, token, env };
}

/** Secrets where other users of the machine can read them: said once, at start. */
function warnAboutExposedSecrets(log: Logger, args: ServeArgs, config: WorkspaceConfig): void {
  if (args.configFile && config.operator.token !== undefined && (fs.statSync(args.configFile).mode & 0o044) !== 0) {
    log.warn('the config file holds the operator token and other users can read it (notebook code among them); chmod 600 it', { file: args.configFile });
  }
  if (args.tokenOnCommandLine) {
    // A command line is world-readable (/proc/PID/cmdline): notebook code, running as another user,
    // could read the token there. Rewriting our title blanks it; a launcher above us (npx) may still show it.
    process.title = 'gpu-workspace serve';
    log.warn('--token is visible in the process list to every user of this machine while the sidecar starts; pass it in GPU_WORKSPACE_TOKEN instead');
  }
}

/** SIGTERM, SIGINT and SIGHUP close the workspace in order; a second signal exits at once. */
function closeOnSignals(workspace: { close(): Promise<void> }, log: Logger): void {
  let stopping = false;
  const shutdown = (sig: string): void => {
    if (stopping) {
      process.stderr.write('gpu-workspace: second signal, exiting now.\n');
      process.exit(130);
    }
    stopping = true;
    log.info('stopping', { signal: sig });
    workspace.close().then(
      () => process.exit(0),
      err => {
        log.error('error while stopping', { error: (err as Error).message });
        process.exit(1);
      }
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGHUP', () => shutdown('SIGHUP'));
}

async function runServe(argv: string[]): Promise<void> {
  const args = parseServeArgs(argv);
  const config = loadWorkspaceConfig(args.configFile, args.env);
  const log = createLogger(config.log_level);
  warnAboutExposedSecrets(log, args, config);
  const workspace = await serve({ port: args.port, home: args.home, stateDir: args.stateDir, config, token: args.token, logger: log });
  process.stdout.write(`\n    The GPU workspace is running. Open it at:\n    ${workspace.url}\n\n`);
  closeOnSignals(workspace, log);
}

export function main(argv: string[]): void {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  if (command === '--version') {
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  const run =
    command === 'serve' ? runServe(rest) : command === 'quota' ? runQuota(rest) : command === 'snapshot' ? runSnapshot(rest) : Promise.reject(new StartupError(`unknown command "${command}". Run "gpu-workspace --help".`));
  run.catch((err: unknown) => {
    if (err instanceof StartupError) {
      fail(err.message, 1);
    }
    if (err instanceof TypeError && (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      fail(`${err.message}\n\n${USAGE}`);
    }
    fail(`unexpected error: ${(err as Error).stack ?? String(err)}`, 1);
  });
}
