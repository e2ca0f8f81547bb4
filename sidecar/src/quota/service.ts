import { EventEmitter } from 'node:events';
import type { GrantRecord } from '@jupyterlab-gpu-workspace/api';
import { Ledger, QuotaPolicy, QuotaSummary } from './ledger';

export interface QuotaEvents {
  /** Hours were granted: an exhaustion under way may be over. */
  granted: [GrantRecord];
}

/**
 * The quota as policy over the ledger: what the allocation is, what is left,
 * and grants. Metering writes usage; this only reads it, and adds grants.
 */
export class QuotaService extends EventEmitter<QuotaEvents> {
  constructor(
    private readonly ledger: Ledger,
    readonly policy: QuotaPolicy,
    /** Minutes-left thresholds the user is warned at, largest first. */
    readonly warnMinutes: number[]
  ) {
    super();
    this.warnMinutes = [...warnMinutes].sort((a, b) => b - a);
  }

  /** Allocation, use and what is left in the current period, as written in the ledger. */
  summary(): QuotaSummary {
    return this.ledger.summary(this.policy);
  }

  /** GPU seconds the ledger may still charge in this period. */
  remainingSeconds(): number {
    const s = this.summary();
    return Math.max(0, s.allocation_seconds - s.used_seconds);
  }

  grant(request: { hours: number; reason: string; actor: string }): GrantRecord {
    const grant = this.ledger.grant(request);
    this.emit('granted', grant);
    return grant;
  }
}
