import type { WorkspaceConfig } from '../config/schema';
import type { QuotaPolicy } from './ledger';
import { parsePeriod } from './periods';

/**
 * The quota policy from the operator config's validated `gpu.quota` section.
 * The one place it is built: the running sidecar and `quota show` read the
 * same allocation from the same config.
 */
export function quotaPolicy(quota: WorkspaceConfig['gpu']['quota']): QuotaPolicy {
  return { hours: quota.hours, period: parsePeriod(quota.period), anchorMs: Date.parse(quota.period_anchor) };
}
