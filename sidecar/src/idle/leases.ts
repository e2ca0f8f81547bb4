import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { KeepAwakeLease } from '@jupyterlab-gpu-workspace/api';
import type { WorkspaceConfig } from '../config/schema';
import { badRequest, notFound, rateLimited } from '../errors';

export interface LeasePolicy {
  maxHours: number;
  heartbeatSeconds: number;
  maxLeases: number;
  maxAcquiresPerMinute: number;
}

/** The keep-awake policy of the operator config. */
export function leasePolicy(config: WorkspaceConfig): LeasePolicy {
  const k = config.keep_awake;
  return { maxHours: k.max_hours, heartbeatSeconds: k.heartbeat_seconds, maxLeases: k.max_leases, maxAcquiresPerMinute: k.max_acquires_per_minute };
}

export interface LeaseTableOptions {
  policy: LeasePolicy;
  /** The uid lease holders must run as (the notebook user's). */
  ownerUid: number;
  /** The live process's real uid, or null when it does not exist. */
  processUid: (pid: number) => number | null;
  now?: () => number;
}

export interface Acquired {
  lease: KeepAwakeLease;
  ttlSeconds: number;
  capped: boolean;
}

/** Why a lease ended: for the log and the user's notice. */
export type LeaseEnd = 'released' | 'holder_exited' | 'heartbeats_stopped' | 'cap_reached';

interface Held {
  id: string;
  label: string;
  pid: number;
  startedMs: number;
  lastHeartbeatMs: number;
  endsMs: number;
}

/** A lease that misses its heartbeats for this many periods has lost its holder. */
export const MISSED_HEARTBEATS = 3;

const MAX_LABEL = 200;

/**
 * The keep-awake leases: who holds the workspace awake. A lease ends when
 * its process exits, its heartbeats stop, or it reaches its cap; sweep()
 * finds those and emits 'ended' for each (and 'empty' when the last goes).
 */
export class LeaseTable extends EventEmitter<{ ended: [KeepAwakeLease, LeaseEnd]; acquired: [KeepAwakeLease]; empty: [] }> {
  private leases = new Map<string, Held>();
  private recentAcquires: number[] = [];
  private readonly now: () => number;

  constructor(private readonly options: LeaseTableOptions) {
    super();
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.leases.size;
  }

  list(): KeepAwakeLease[] {
    return [...this.leases.values()].sort((a, b) => a.startedMs - b.startedMs).map(toWire);
  }

  /** Validates the request (the body's fields are unknown values) and takes a lease. */
  acquire(label: unknown, pid: unknown, ttlSeconds: unknown): Acquired {
    if (typeof label !== 'string' || label.trim() === '' || label.length > MAX_LABEL) {
      throw badRequest(`"label" must be a non-empty string of at most ${MAX_LABEL} characters.`);
    }
    if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 1) {
      throw badRequest('"pid" must be the process id (an integer above 1) of the process holding the lease.');
    }
    if (ttlSeconds !== undefined && (typeof ttlSeconds !== 'number' || !Number.isFinite(ttlSeconds) || ttlSeconds <= 0)) {
      throw badRequest('"ttl_seconds" must be a positive number of seconds, or left out for the longest allowed.');
    }
    const uid = this.options.processUid(pid);
    if (uid === null) {
      throw badRequest(`No process ${pid} is running: a lease must be held by a running process of the workspace.`);
    }
    if (uid !== this.options.ownerUid) {
      throw badRequest(`Process ${pid} is not one of the workspace's own processes.`);
    }
    const { policy } = this.options;
    const now = this.now();
    this.recentAcquires = this.recentAcquires.filter(t => t > now - 60_000);
    if (this.recentAcquires.length >= policy.maxAcquiresPerMinute) {
      throw rateLimited(`Too many keep-awake leases asked for: at most ${policy.maxAcquiresPerMinute} a minute. Hold one lease around the whole loop.`);
    }
    if (this.leases.size >= policy.maxLeases) {
      throw rateLimited(`Too many keep-awake leases held: at most ${policy.maxLeases} at once. Release one first.`);
    }
    this.recentAcquires.push(now);
    const capSeconds = policy.maxHours * 3600;
    const asked = ttlSeconds === undefined ? capSeconds : ttlSeconds;
    const granted = Math.min(asked, capSeconds);
    const held: Held = {
      id: randomUUID(),
      label: label.trim(),
      pid,
      startedMs: now,
      lastHeartbeatMs: now,
      endsMs: now + granted * 1000
    };
    this.leases.set(held.id, held);
    const lease = toWire(held);
    this.emit('acquired', lease);
    return { lease, ttlSeconds: granted, capped: asked > capSeconds };
  }

  heartbeat(id: string): KeepAwakeLease {
    const held = this.leases.get(id);
    if (!held) {
      throw notFound(`No keep-awake lease ${id}: it was released, or ended (holder exited, heartbeats stopped or the cap was reached).`);
    }
    held.lastHeartbeatMs = this.now();
    return toWire(held);
  }

  release(id: string): void {
    if (!this.leases.has(id)) {
      throw notFound(`No keep-awake lease ${id}: it was already released or ended.`);
    }
    this.end(id, 'released');
  }

  /** Ends the leases whose holder exited, whose heartbeats stopped, or whose time is up. */
  sweep(): void {
    const now = this.now();
    const missedMs = this.options.policy.heartbeatSeconds * 1000 * MISSED_HEARTBEATS;
    for (const held of [...this.leases.values()]) {
      if (this.options.processUid(held.pid) === null) {
        this.end(held.id, 'holder_exited');
      } else if (now - held.lastHeartbeatMs > missedMs) {
        this.end(held.id, 'heartbeats_stopped');
      } else if (now >= held.endsMs) {
        this.end(held.id, 'cap_reached');
      }
    }
  }

  /** Ends every lease (the workspace stops). Emits nothing: the stop says it all. */
  clear(): void {
    this.leases.clear();
  }

  private end(id: string, why: LeaseEnd): void {
    const held = this.leases.get(id);
    if (!held) {
      return;
    }
    this.leases.delete(id);
    this.emit('ended', toWire(held), why);
    if (this.leases.size === 0) {
      this.emit('empty');
    }
  }
}

function toWire(held: Held): KeepAwakeLease {
  return {
    id: held.id,
    label: held.label,
    pid: held.pid,
    started_at: new Date(held.startedMs).toISOString(),
    last_heartbeat: new Date(held.lastHeartbeatMs).toISOString(),
    ends_at: new Date(held.endsMs).toISOString()
  };
}
