/**
 * `gpu-workspace quota grant|show`: the operator's view of the GPU-hours
 * ledger from a shell. It opens the same SQLite file as a running sidecar;
 * WAL mode and the busy timeout make that safe while the sidecar ticks.
 */
import * as os from 'node:os';
import { ParseArgsConfig, parseArgs } from 'node:util';
import { loadWorkspaceConfig } from '../workspaceConfig';
import { Database, ledgerPath, openDatabase } from '../quota/db';
import { StartupError, WorkspaceError } from '../errors';
import { Ledger, QuotaSummary, validateGrant } from '../quota/ledger';
import { quotaPolicy } from '../quota/policy';

const QUOTA_USAGE = 'usage: gpu-workspace quota grant --hours H --reason R --state-dir S | quota show --state-dir S [--config C] [--json]';

/** Bad command-line input: one line on stderr, exit code 2. */
class UsageError extends Error {}

function operatorActor(): string {
  let user: string;
  try {
    user = os.userInfo().username;
  } catch {
    // No passwd entry (e.g. a container started with an arbitrary uid).
    user = process.env.USER ?? `uid ${process.getuid?.() ?? 'unknown'}`;
  }
  return `operator-cli:${user}`;
}

function parse(args: string[], options: ParseArgsConfig['options']): Record<string, string | boolean | undefined> {
  // parseArgs reads "--hours -3" as a missing value followed by an option; join
  // such numbers to their option so the operator hears about the number instead.
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (/^--[a-z-]+$/.test(args[i]) && i + 1 < args.length && /^-[\d.]/.test(args[i + 1])) {
      joined.push(`${args[i]}=${args[i + 1]}`);
      i++;
    } else {
      joined.push(args[i]);
    }
  }
  try {
    const { values } = parseArgs({ args: joined, options, strict: true, allowPositionals: false });
    return values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw new UsageError(`${(err as Error).message} (${QUOTA_USAGE})`);
  }
}

function requireStateDir(value: string | boolean | undefined): string {
  if (typeof value !== 'string' || !value) {
    throw new UsageError('--state-dir is required: the state directory of the workspace whose ledger to use.');
  }
  return value;
}

function withLedger<T>(stateDir: string, use: (ledger: Ledger) => T): T {
  const db: Database = openDatabase(ledgerPath(stateDir));
  try {
    return use(new Ledger(db));
  } finally {
    db.close();
  }
}

function grant(args: string[]): void {
  const values = parse(args, {
    hours: { type: 'string' },
    reason: { type: 'string' },
    'state-dir': { type: 'string' }
  });
  const rawHours = values.hours;
  if (typeof rawHours !== 'string') {
    throw new UsageError('--hours is required: how many GPU hours to grant, e.g. --hours 5.');
  }
  const hours = rawHours.trim() === '' ? NaN : Number(rawHours);
  if (!Number.isFinite(hours)) {
    throw new UsageError(`--hours must be a number of hours, e.g. 5 or 2.5, not "${rawHours}".`);
  }
  if (typeof values.reason !== 'string' || !values.reason.trim()) {
    throw new UsageError('--reason is required: say why the hours are granted (it is kept in the audit log).');
  }
  const stateDir = requireStateDir(values['state-dir']);
  // Check before opening, so a typo does not create a ledger in a wrong folder.
  validateGrant(hours, values.reason);
  const granted = withLedger(stateDir, ledger => ledger.grant({ hours, reason: values.reason as string, actor: operatorActor() }));
  process.stdout.write(`Granted ${granted.hours} GPU hour${granted.hours === 1 ? '' : 's'} (grant #${granted.id}, ${new Date(granted.granted_at_ms).toISOString()}).\n`);
}

function hoursText(seconds: number): string {
  return `${(seconds / 3600).toFixed(2)} h`;
}

function formatSummary(s: QuotaSummary, policyHours: number): string {
  const window =
    s.window_start === null ? 'all time, never resets' : `since ${s.window_start}${s.next_reset ? `, resets ${s.next_reset}` : ' (rolling)'}`;
  return [
    `GPU quota, period ${s.period} (${window})`,
    `  allocation  ${hoursText(s.allocation_seconds)}  (${policyHours} h policy + ${hoursText(s.granted_seconds)} granted)`,
    `  used        ${hoursText(s.used_seconds)}`,
    `  remaining   ${hoursText(s.remaining_seconds)}`,
    ''
  ].join('\n');
}

function show(args: string[]): void {
  const values = parse(args, {
    'state-dir': { type: 'string' },
    config: { type: 'string' },
    json: { type: 'boolean', default: false }
  });
  const stateDir = requireStateDir(values['state-dir']);
  const policy = quotaPolicy(loadWorkspaceConfig(typeof values.config === 'string' ? values.config : undefined).gpu.quota);
  const summary = withLedger(stateDir, ledger => ledger.summary(policy));
  process.stdout.write(values.json ? `${JSON.stringify(summary)}\n` : formatSummary(summary, policy.hours));
}

function exitWith(message: string, code: number): void {
  process.stderr.write(`gpu-workspace: ${message}\n`);
  process.exitCode = code;
}

/**
 * Runs `quota SUBCOMMAND ...`. Problems are reported here, never as a stack
 * trace: bad input exits 2, a ledger or config the operator must fix exits 1.
 */
export async function runQuota(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  try {
    if (sub === 'grant') {
      grant(rest);
    } else if (sub === 'show') {
      show(rest);
    } else {
      throw new UsageError(`${sub === undefined ? 'missing quota command' : `unknown quota command "${sub}"`}. ${QUOTA_USAGE}`);
    }
  } catch (err) {
    if (err instanceof UsageError || (err instanceof WorkspaceError && err.status === 400)) {
      exitWith(err.message, 2);
    } else if (err instanceof StartupError) {
      exitWith(err.message, 1);
    } else {
      throw err;
    }
  }
}
