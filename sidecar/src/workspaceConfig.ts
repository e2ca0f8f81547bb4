import { ConfigCheck, loadConfig } from './config/load';
import type { WorkspaceConfig } from './config/schema';
import { quotaConfigProblems } from './quota/periods';
import { submitConfigProblems } from './submit/manifest';

/** Every part's own rules for the config, beside the schema's. */
const CHECKS: readonly ConfigCheck[] = [config => quotaConfigProblems(config.gpu.quota), config => submitConfigProblems(config.submit)];

/** The operator config as every command of the CLI reads it: the schema's rules and every part's own. */
export function loadWorkspaceConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): WorkspaceConfig {
  return loadConfig(file, env, CHECKS);
}
