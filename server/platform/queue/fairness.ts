import type { Redis } from 'ioredis';
import { ORGANIZATION_TIERS, type OrganizationTier } from '../../../shared/schemas/tenancy.ts';
import { QUEUE_NAMES, type QueueName } from './definition.ts';
import type { QueueKeys, StoreKeys } from './keys.ts';
import { scripts } from './scripts.ts';
import type { FairnessSettings } from './settings.ts';

// Reads and writes around fairness between organizations (ADR 0024); the taking itself is the fetch script.

/** The most jobs an organization of a tier may run at once in a queue. */
export function capOf(f: FairnessSettings, tier: OrganizationTier, queue?: QueueName): number {
  return (queue ? f.queues[queue]?.[tier] : undefined) ?? f.tiers[tier].cap;
}

/** The take script's arguments for one queue: per tier, its cap and its weight (jobs per turn, at least 1). */
export function takePlan(f: FairnessSettings, queue?: QueueName): (string | number)[] {
  return ORGANIZATION_TIERS.flatMap((tier) => [
    tier,
    capOf(f, tier, queue),
    Math.max(1, f.tiers[tier].weight),
  ]);
}

/** Jobs waiting in one queue, `waiting` and every organization's list, and the ids next in line in each. */
export async function queuedJobs(redis: Redis, k: StoreKeys): Promise<{ total: number; heads: string[] }> {
  const [total, heads] = (await scripts.queued(redis, [k.waiting, k.orgs], [k.orgWaiting])) as [
    number,
    string[],
  ];
  return { total, heads };
}

export interface OrganizationLoad {
  organizationId: string;
  /** Jobs of the organization waiting in the queue (delayed ones not counted). */
  waiting: number;
  /** Its jobs running in the queue, fleet-wide: the slots it holds. */
  running: number;
  tier: OrganizationTier;
  /** The most it may run at once in this queue. */
  cap: number;
}

const isTier = (t: string): t is OrganizationTier => (ORGANIZATION_TIERS as readonly string[]).includes(t);

/** Per organization with jobs waiting or running in one queue: the busiest first, at most `limit`. */
export async function organizationLoad(
  redis: Redis,
  k: StoreKeys,
  capOf: (tier: OrganizationTier) => number,
  limit: number,
): Promise<OrganizationLoad[]> {
  const flat = (await scripts.orgLoad(redis, [k.orgs, k.running, k.tiers], [k.orgWaiting, limit])) as (
    string | number
  )[];
  const out: OrganizationLoad[] = [];
  for (let i = 0; i + 3 < flat.length; i += 4) {
    const t = String(flat[i + 3]);
    const tier = isTier(t) ? t : 'free';
    out.push({
      organizationId: String(flat[i]),
      waiting: Number(flat[i + 1]),
      running: Number(flat[i + 2]),
      tier,
      cap: capOf(tier),
    });
  }
  out.sort((a, b) => b.running + b.waiting - (a.running + a.waiting));
  return out.slice(0, limit);
}

/**
 * Replaces the plan tiers the take script reads, in every queue (each queue keeps its own copy, beside its lists):
 * organizations not given are `free`. One MULTI, so a take never sees a half-written table.
 */
export async function writeTiers(
  redis: Redis,
  keys: QueueKeys,
  tiers: Iterable<[organizationId: string, tier: OrganizationTier]>,
  queues: readonly QueueName[] = QUEUE_NAMES,
): Promise<number> {
  const paid = [...tiers].filter(([, tier]) => tier !== 'free').flat();
  const multi = redis.multi();
  for (const q of queues) {
    const key = keys.store(q).tiers;
    multi.del(key);
    if (paid.length) multi.hset(key, ...paid);
  }
  await multi.exec();
  return paid.length / 2;
}
