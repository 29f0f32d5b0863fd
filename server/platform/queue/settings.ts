import type { OrganizationTier } from '../../../shared/schemas/tenancy.ts';
import type { QueueName } from './definition.ts';

export interface SupervisorConfig {
  name: string;
  /** Queues this supervisor works, in priority order for `simple` balancing leftovers. */
  queues: QueueName[];
  /**
   * `auto`: concurrency follows each queue's workload (waiting jobs, or waiting × average runtime with `time`);
   * `simple`: maxProcesses split evenly.
   */
  balance: 'auto' | 'simple';
  autoScalingStrategy: 'time' | 'size';
  /** Concurrency slots ("processes" in Horizon's words) per queue at least, and across all queues at most. */
  minProcesses: number;
  maxProcesses: number;
  /** At most this many slots move per queue per balancing round, and rounds are this far apart. */
  balanceMaxShift: number;
  balanceCooldownMs: number;
}

export interface QueueSettings {
  supervisors: SupervisorConfig[];
  retention: {
    /** Recent and completed jobs in the index (Horizon: 60 min). */
    recentMs: number;
    completedMs: number;
    /** Failed jobs in the Redis index; PostgreSQL keeps them until pruned (Horizon: 7 days). */
    failedMs: number;
    batchesMs: number;
    metricsMs: number;
  };
  stall: {
    /** A running job renews its claim every intervalMs / 2; one missing two checks in a row stalled. */
    intervalMs: number;
    /** A job found stalled more than this many times fails instead of looping. */
    maxStalls: number;
  };
  /** SIGTERM: running jobs get this long to finish before they are aborted and put back on their queue. */
  shutdownGraceMs: number;
  heartbeatMs: number;
  metricsFlushMs: number;
  /** Dispatch refuses larger payloads (JSON bytes). */
  maxPayloadBytes: number;
  /** A worker process exits (for its process manager to start a fresh one) past any of these. */
  recycle: { memoryMb: number; maxJobs: number; maxTimeMs: number };
  leaderTtlMs: number;
  /** The window for raising delayed jobs that are due close together in one call (bee-queue's `delayedDebounce`). */
  delayedDebounceMs: number;
  fairness: FairnessSettings;
}

/**
 * Fairness between organizations within a queue (ADR 0024), by the organization's plan tier: `cap` is the most jobs
 * of one organization running at once in one queue across the whole fleet, `weight` how many jobs it is given per
 * turn. `queues` overrides the caps of one queue.
 */
export interface FairnessSettings {
  tiers: Record<OrganizationTier, { cap: number; weight: number }>;
  queues: Partial<Record<QueueName, Partial<Record<OrganizationTier, number>>>>;
}

export const DEFAULT_FAIRNESS: FairnessSettings = {
  tiers: {
    free: { cap: 10, weight: 1 },
    professional: { cap: 25, weight: 2 },
    enterprise: { cap: 50, weight: 3 },
  },
  queues: {},
};

const ALL: QueueName[] = ['high', 'default', 'mail', 'webhooks', 'low'];
const MIN = 60_000;

const base: QueueSettings = {
  supervisors: [
    {
      name: 'main',
      queues: ALL,
      balance: 'auto',
      autoScalingStrategy: 'time',
      minProcesses: 1,
      maxProcesses: 20,
      balanceMaxShift: 2,
      balanceCooldownMs: 3_000,
    },
  ],
  retention: {
    recentMs: 60 * MIN,
    completedMs: 60 * MIN,
    failedMs: 7 * 24 * 60 * MIN,
    batchesMs: 7 * 24 * 60 * MIN,
    metricsMs: 3 * 60 * MIN,
  },
  stall: { intervalMs: 5_000, maxStalls: 2 },
  shutdownGraceMs: 25_000,
  heartbeatMs: 2_000,
  metricsFlushMs: 1_000,
  maxPayloadBytes: 64 * 1024,
  recycle: { memoryMb: 512, maxJobs: 0, maxTimeMs: 0 },
  leaderTtlMs: 10_000,
  delayedDebounceMs: 50,
  fairness: DEFAULT_FAIRNESS,
};

/** Per-environment settings, like Horizon's `environments` block; code, not env vars, so they are reviewed. */
export function queueSettingsFor(env: 'development' | 'test' | 'production'): QueueSettings {
  if (env === 'production') {
    return {
      ...base,
      supervisors: [
        { ...base.supervisors[0]!, name: 'main', queues: ['high', 'default', 'low'], maxProcesses: 30 },
        { ...base.supervisors[0]!, name: 'io', queues: ['mail', 'webhooks'], maxProcesses: 20 },
      ],
      recycle: { memoryMb: 768, maxJobs: 0, maxTimeMs: 6 * 60 * MIN },
    };
  }
  if (env === 'test') {
    return {
      ...base,
      supervisors: [{ ...base.supervisors[0]!, balance: 'simple', maxProcesses: 10, minProcesses: 1 }],
      stall: { intervalMs: 1_000, maxStalls: 2 },
      shutdownGraceMs: 5_000,
      heartbeatMs: 500,
      leaderTtlMs: 3_000,
      metricsFlushMs: 200,
    };
  }
  return { ...base, supervisors: [{ ...base.supervisors[0]!, maxProcesses: 10 }] };
}

export function mergeSettings(baseSettings: QueueSettings, over: Partial<QueueSettings> = {}): QueueSettings {
  return {
    ...baseSettings,
    ...over,
    retention: { ...baseSettings.retention, ...over.retention },
    stall: { ...baseSettings.stall, ...over.stall },
    recycle: { ...baseSettings.recycle, ...over.recycle },
    fairness: { ...baseSettings.fairness, ...over.fairness },
  };
}
