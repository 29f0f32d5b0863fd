import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { AnyJobDefinition } from './definition.ts';
import type { Envelope } from './envelope.ts';
import type { QueueKeys } from './keys.ts';
import type { JobRegistry } from './registry.ts';
import { scripts } from './scripts.ts';

/** How long after its rate limit's window ends a released job comes back (see rateLimitWait). */
const WINDOW_END_MARGIN_MS = 5;

/** The limits a job's definition puts on its attempts: `rateLimit` and `withoutOverlapping`. */
export class JobLimits {
  private readonly limiters = new Map<string, RateLimiterRedis>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: QueueKeys,
    private readonly registry: JobRegistry,
  ) {}

  /** The without-overlapping lock a job of `def` with this (parsed) payload takes, if any. */
  overlapKey(def: AnyJobDefinition, payload: unknown): string {
    if (!def.withoutOverlapping) throw new Error(`${def.name} has no withoutOverlapping policy`);
    return this.keys.overlap(def.name, def.withoutOverlapping.key(payload));
  }

  /**
   * Takes the lock for job `id`. Held by this job id already: an earlier attempt whose worker died (kill -9) and
   * which the stall checker returned to the queue. Taking it over is safe: one job id never runs twice at once.
   */
  async takeOverlap(key: string, id: string, ttlMs: number): Promise<boolean> {
    return Number(await scripts.lockTake(this.redis, [key], [id, ttlMs])) === 1;
  }

  /** Whatever this job id holds goes when the attempt ends (compare-and-delete: another job's lock stays). */
  async releaseOverlap(key: string, id: string): Promise<boolean> {
    return Number(await scripts.delIfEq(this.redis, [key], [id])) === 1;
  }

  /**
   * Releases the locks a job's attempt holds while it runs (without-overlapping), when the stall checker has found
   * its worker dead: otherwise they would last until their TTL (the job's timeout), refusing the job's own retry
   * and every other job of the same key meanwhile. Compare-and-delete: a lock someone else took since is kept.
   */
  async releaseLocksOf(id: string, env: Envelope): Promise<boolean> {
    const def = this.registry.get(env.name);
    if (!def?.withoutOverlapping) return false;
    const payload = def.payload.safeParse(env.payload);
    if (!payload.success) return false;
    return this.releaseOverlap(this.overlapKey(def, payload.data), id);
  }

  /** ms until the job may run under its rate limit (0 = now). */
  async rateLimitWait(def: AnyJobDefinition, payload: unknown): Promise<number> {
    const policy = def.rateLimit;
    if (!policy) return 0;
    const bucket = policy.key ? policy.key(payload) : '_';
    const id = `${def.name}|${policy.limit}|${policy.perSeconds}`;
    let limiter = this.limiters.get(id);
    if (!limiter) {
      limiter = new RateLimiterRedis({
        storeClient: this.redis,
        keyPrefix: this.keys.rateLimit(def.name),
        points: policy.limit,
        duration: policy.perSeconds,
      });
      this.limiters.set(id, limiter);
    }
    try {
      await limiter.consume(bucket, 1);
      return 0;
    } catch (res) {
      // Past the window's end, not on it: Redis keeps a key through the millisecond its TTL ends, and the delayed
      // timer can raise the job in that very millisecond, which would cost the job one more release.
      if (res instanceof RateLimiterRes) return Math.max(0, res.msBeforeNext) + WINDOW_END_MARGIN_MS;
      throw res;
    }
  }
}
