import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { WorkspaceConfig } from './schema';
import { StartupError } from '../errors';

/** Environment variables that override config keys: GPU_WORKSPACE__JUPYTER__START_TIMEOUT_SECONDS=30. */
export const ENV_PREFIX = 'GPU_WORKSPACE__';

// The schema's validator, generated ahead of time (scripts/config-validator.ts): no ajv compile at start.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const validate = require('./validateConfig.generated') as ValidateFunction<WorkspaceConfig>;

function keyOf(error: ErrorObject): string {
  const base = error.instancePath.replace(/^\//, '').split('/').filter(Boolean).join('.');
  if (error.keyword === 'additionalProperties') {
    const extra = (error.params as { additionalProperty: string }).additionalProperty;
    return base ? `${base}.${extra}` : extra;
  }
  return base || '(top level)';
}

function describe(error: ErrorObject): string {
  if (error.keyword === 'additionalProperties') {
    return 'is not a known key';
  }
  if (error.keyword === 'enum') {
    const allowed = (error.params as { allowedValues: unknown[] }).allowedValues;
    return `must be one of ${allowed.map(v => JSON.stringify(v)).join(', ')}`;
  }
  return error.message ?? 'is invalid';
}

/** Turns ajv's errors into one line per key, naming the key and the reason. */
export function formatConfigErrors(errors: ErrorObject[], source: string): string {
  const lines = errors.map(e => `  - ${keyOf(e)}: ${describe(e)}`);
  return `Invalid configuration in ${source}:\n${Array.from(new Set(lines)).join('\n')}`;
}

function parseFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new StartupError(`Cannot read config file ${file}: ${(err as Error).message}`);
  }
  try {
    const ext = path.extname(file).toLowerCase();
    // YAML is a superset of JSON, but JSON.parse gives better messages for .json files.
    // The YAML parser costs ~8 MB of resident memory for the sidecar's lifetime: load it only for YAML files.
    const value: unknown = ext === '.json' ? JSON.parse(text) : (require('yaml') as typeof import('yaml')).parse(text);
    return value ?? {};
  } catch (err) {
    throw new StartupError(`Config file ${file} is not valid ${path.extname(file) === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
}

function parseEnvValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function applyEnvOverrides(config: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || raw === undefined) {
      continue;
    }
    const keys = name.slice(ENV_PREFIX.length).toLowerCase().split('__');
    let node = config;
    for (const key of keys.slice(0, -1)) {
      const next = node[key];
      if (typeof next !== 'object' || next === null || Array.isArray(next)) {
        node[key] = {};
      }
      node = node[key] as Record<string, unknown>;
    }
    node[keys[keys.length - 1]] = parseEnvValue(raw);
  }
}

/**
 * A rule the schema cannot say, kept by the part of the sidecar it belongs to
 * (a quota period that parses, submit globs that stay in the home): each
 * problem names its key. The loader knows none of them, so config/ imports
 * nothing above it; `workspaceConfig.ts` hands them all in.
 */
export type ConfigCheck = (config: WorkspaceConfig) => string[];

/**
 * Loads the operator config: file (YAML or JSON), then environment overrides,
 * then schema validation with defaults filled in, then `checks`. Any problem
 * is a StartupError that names the key and the reason.
 */
export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env, checks: readonly ConfigCheck[] = []): WorkspaceConfig {
  const raw = file ? parseFile(file) : {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new StartupError(`Invalid configuration in ${file}: the top level must be a mapping of keys to values.`);
  }
  const config = structuredClone(raw) as Record<string, unknown>;
  applyEnvOverrides(config, env);
  if (!validate(config)) {
    throw new StartupError(formatConfigErrors(validate.errors ?? [], file ?? 'environment'));
  }
  const problems = [...semanticProblems(config), ...checks.flatMap(check => check(config))];
  if (problems.length) {
    throw new StartupError(`Invalid configuration in ${file ?? 'environment'}:\n${problems.map(p => `  - ${p}`).join('\n')}`);
  }
  return config;
}

/** Rules of the config itself a JSON schema cannot say well: names that are unique. */
function semanticProblems(config: WorkspaceConfig): string[] {
  const problems: string[] = [];
  const names = config.gpu.profiles.map(p => p.name);
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate) {
    problems.push(`gpu.profiles: the name "${duplicate}" is used twice`);
  }
  return problems;
}
