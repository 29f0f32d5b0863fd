import type { Redis } from 'ioredis';
import type { HealthCheck } from '../health/health.ts';
import { QUEUE_NAMES } from './definition.ts';
import type { Envelope } from './envelope.ts';
import { queuedJobs } from './fairness.ts';
import type { QueueKeys } from './keys.ts';
import { envelopeOf } from './store.ts';

/** What the depth read needs: the queue connection and the key names. */
export interface DepthSource {
  readonly redis: Redis;
  readonly keys: QueueKeys;
}

export interface QueueDepth {
  /** Jobs waiting in every queue (paused ones included: they wait too). */
  waiting: number;
  /** Age in seconds of the job that has waited longest, any queue; 0 with none waiting. */
  waitMaxS: number;
}

/**
 * Waiting jobs and the oldest one's age, in two round trips: jobs are taken from the right end of each waiting list
 * (bee's `waiting` and each organization's, ADR 0024), so the job that has waited longest is one of their heads. Its
 * wait counts from when it became due (`qa`).
 */
export async function queueDepth(system: DepthSource, now = Date.now()): Promise<QueueDepth> {
  const queued = await Promise.all(QUEUE_NAMES.map((q) => queuedJobs(system.redis, system.keys.store(q))));
  let waiting = 0;
  const oldest = system.redis.pipeline();
  let heads = 0;
  QUEUE_NAMES.forEach((q, i) => {
    waiting += queued[i]!.total;
    for (const id of queued[i]!.heads) {
      oldest.hget(system.keys.store(q).jobs, id);
      heads += 1;
    }
  });
  let waitMaxS = 0;
  if (heads) {
    for (const [, raw] of (await oldest.exec()) ?? []) {
      if (typeof raw !== 'string') continue;
      const env: Partial<Envelope> | undefined = envelopeOf(raw);
      if (typeof env?.qa === 'number') waitMaxS = Math.max(waitMaxS, Math.max(0, (now - env.qa) / 1000));
    }
  }
  return { waiting, waitMaxS: Math.round(waitMaxS) };
}

/**
 * Readiness: warn from 5,000 waiting jobs (the `queue-depth` alert's warning), never fail by default. A deep queue is
 * the workers' problem: failing every API node's readiness on it would take the whole API out of the load balancer
 * at once although it could still serve (the many-nodes work found this), so it is reported, not acted on.
 */
export function queueDepthCheck(
  system: () => DepthSource,
  thresholds = { warn: 5_000, fail: Number.POSITIVE_INFINITY },
): HealthCheck {
  return {
    key: 'queue:depth',
    componentType: 'component',
    thresholds,
    async run() {
      return { value: (await queueDepth(system())).waiting, unit: 'jobs' };
    },
  };
}
