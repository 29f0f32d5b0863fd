import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Logger } from '../logger/logger.ts';
import type { AnyJobDefinition } from './definition.ts';
import type { Envelope } from './envelope.ts';
import type { QueueKeys } from './keys.ts';
import type { JobRegistry } from './registry.ts';
import { scripts } from './scripts.ts';

/**
 * Who holds an overlap lock: one attempt of a job. A job's stalled attempt (its worker died) and the rerun the stall
 * checker queues count the same attempt (a stall is not an attempt), so the rerun takes its lock over; the next
 * attempt after a timeout does not, while the abandoned handler still runs.
 */
export const overlapHolder = (jobId: string, attempt: number): string => `${jobId}#${attempt}`;

/** How long after its rate limit's window ends a released job comes back (see rateLimitWait). */
const WINDOW_END_MARGIN_MS = 5;

/**
 * The limits a job's definition puts on its attempts: `rateLimit` and `withoutOverlapping`. Both live in Redis, so
 * they hold across every worker process on it (ADR 0025): a rate limit's window is a key's lifetime on Redis's
 * clock, and an overlap lock is a lease its holder's process renews while the attempt runs.
 */
export class JobLimits {
  private readonly limiters = new Map<string, RateLimiterRedis>();
  /** The overlap locks this process's running attempts hold (lock key → holder), renewed every `renewMs`. */
  private readonly held = new Map<string, string>();
  private renewTimer: NodeJS.Timeout | null = null;
  private readonly leaseMs: number;
  private readonly renewMs: number;

  /**
   * An overlap lock lasts two stall intervals past its last renewal and is renewed twice per interval: the same
   * life as a job's claim on its queue (consumer.ts), so a holder whose process died frees its key about when the
   * stall checker takes its job back, and a live one keeps it however long the job runs.
   */
  constructor(
    private readonly redis: Redis,
    private readonly keys: QueueKeys,
    private readonly registry: JobRegistry,
    stallIntervalMs: number,
    private readonly logger: Logger,
  ) {
    this.leaseMs = 2 * stallIntervalMs;
    this.renewMs = Math.max(50, Math.floor(stallIntervalMs / 2));
  }

  /** The without-overlapping lock a job of `def` with this (parsed) payload takes, if any. */
  overlapKey(def: AnyJobDefinition, payload: unknown): string {
    if (!def.withoutOverlapping) throw new Error(`${def.name} has no withoutOverlapping policy`);
    return this.keys.overlap(def.name, def.withoutOverlapping.key(payload));
  }

  /**
   * Takes the lock for `holder` (overlapHolder) and keeps renewing it until releaseOverlap. Held by this holder
   * already: the same attempt, whose worker died (kill -9) and which the stall checker returned to the queue.
   */
  async takeOverlap(key: string, holder: string): Promise<boolean> {
    if (Number(await scripts.lockTake(this.redis, [key], [holder, this.leaseMs])) !== 1) return false;
    this.held.set(key, holder);
    this.renewTimer ??= setInterval(() => void this.renew(), this.renewMs).unref();
    return true;
  }

  /** Whatever this holder holds goes when its attempt ends (compare-and-delete: another's lock stays). */
  async releaseOverlap(key: string, holder: string): Promise<boolean> {
    this.forget(key, holder);
    return Number(await scripts.delIfEq(this.redis, [key], [holder])) === 1;
  }

  /** Stops renewing a lock; the timer stops with the last one. */
  private forget(key: string, holder: string): void {
    if (this.held.get(key) === holder) this.held.delete(key);
    if (!this.held.size && this.renewTimer) {
      clearInterval(this.renewTimer);
      this.renewTimer = null;
    }
  }

  /**
   * Extends every held lock by a lease, compare-and-PEXPIRE: a lock that lapsed (this process stalled longer than a
   * lease) and went to another job is not extended, and is logged: from then on two jobs of its key may overlap.
   */
  private async renew(): Promise<void> {
    await Promise.all(
      [...this.held].map(async ([key, holder]) => {
        const kept = await scripts
          .renewIfEq(this.redis, [key], [holder, this.leaseMs])
          .then((r) => Number(r) === 1)
          .catch((err: unknown) => {
            this.logger.warn({ err, holder }, 'renewing an overlap lock failed; retrying');
            return true;
          });
        if (!kept && this.held.get(key) === holder) {
          this.forget(key, holder);
          this.logger.warn(
            { holder },
            'overlap lock lapsed while its job ran (process stalled past its lease)',
          );
        }
      }),
    );
  }

  /**
   * Releases the locks a job's attempt holds while it runs (without-overlapping), when the stall checker has found
   * its worker dead and failed the job: otherwise they would last what is left of their lease. `env` is the job's
   * stored envelope, which an attempt does not rewrite when it starts: the stalled attempt was its next one.
   * Compare-and-delete: a lock someone else took since is kept.
   */
  async releaseLocksOf(id: string, env: Envelope): Promise<boolean> {
    const def = this.registry.get(env.name);
    if (!def?.withoutOverlapping) return false;
    const payload = def.payload.safeParse(env.payload);
    if (!payload.success) return false;
    return this.releaseOverlap(this.overlapKey(def, payload.data), overlapHolder(id, env.attempts + 1));
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
