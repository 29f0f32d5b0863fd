import { createHash } from 'node:crypto';
import type { RedisClient } from '../redis/redis.ts';

/** Exponential delay after repeated failures of one key (an account's email): never a lock. */
export interface BackoffPolicy {
  /** Failures in a row that cost nothing (typos). */
  freeFailures: number;
  /** The delay after the first failure beyond them; each further failure doubles it... */
  baseSeconds: number;
  /** ...up to this: the longest anyone, the owner included, waits for the next try. */
  maxSeconds: number;
  /** Failures are forgotten this long after the last one (and at once on a success). */
  forgetAfterSeconds: number;
}

/** Sign-in per account: 5 free failures, then 1 s, 2 s, 4 s … at most 15 minutes between tries. */
export const SIGN_IN_BACKOFF: BackoffPolicy = {
  freeFailures: 5,
  baseSeconds: 1,
  maxSeconds: 15 * 60,
  forgetAfterSeconds: 24 * 3600,
};

export interface BackoffDecision {
  allowed: boolean;
  /** Whole seconds until the next try is heard; 0 when allowed. */
  retryAfter: number;
}

// One hash per key: `n` failures in a row, `until` (ms) before which a try is not heard. Recording a failure is one
// atomic step, so concurrent wrong guesses each count and the delay they set is computed from the new count.
const FAIL = `
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
local free, base, max, forget, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local delay = 0
if n > free then
  delay = base * 2 ^ math.min(n - free - 1, 30)
  if delay > max then delay = max end
end
redis.call('HSET', KEYS[1], 'until', now + delay * 1000)
redis.call('EXPIRE', KEYS[1], forget + max)
return delay
`;

/** The script as ioredis exposes it once defined with defineCommand (EVALSHA, reloaded if Redis lost it). */
interface BackoffScripts {
  keelBackoffFail(key: string, ...args: number[]): Promise<number>;
}

/**
 * Per-key exponential backoff in Redis (the `limits` role). `check` before the attempt: while the delay runs a try
 * is refused without being judged (so guessing gains nothing) and without extending the delay (so nobody can keep
 * an account shut by hammering it); once it has run out, the next try is judged normally and a correct password
 * always works. `fail` after a wrong one, `succeed` after a right one.
 */
export class Backoff {
  constructor(
    private readonly redis: RedisClient,
    private readonly keyspace: string,
    private readonly policy: BackoffPolicy,
    private readonly now: () => number = () => Date.now(),
  ) {
    if (!(redis as Partial<BackoffScripts>).keelBackoffFail) {
      redis.defineCommand('keelBackoffFail', { numberOfKeys: 1, lua: FAIL });
    }
  }

  // Redis unreachable: sign-in goes on without the per-account delay (the per-IP limit still holds, in memory)
  // rather than nobody being able to sign in.
  async check(key: string): Promise<BackoffDecision> {
    const stored = await this.redis.hget(this.key(key), 'until').catch(() => null);
    const until = Number(stored ?? 0);
    const wait = until - this.now();
    return wait > 0
      ? { allowed: false, retryAfter: Math.ceil(wait / 1000) }
      : { allowed: true, retryAfter: 0 };
  }

  /** Records a failure; answers the delay (seconds) before the next try is heard. */
  async fail(key: string): Promise<number> {
    const p = this.policy;
    const delay = await (this.redis as unknown as BackoffScripts)
      .keelBackoffFail(
        this.key(key),
        p.freeFailures,
        p.baseSeconds,
        p.maxSeconds,
        p.forgetAfterSeconds,
        this.now(),
      )
      .catch(() => 0);
    return Number(delay);
  }

  async succeed(key: string): Promise<void> {
    await this.redis.del(this.key(key)).catch(() => undefined);
  }

  // Keys are emails: one counter per address whatever its case, and no address in Redis key names.
  private key(key: string): string {
    return `${this.keyspace}${createHash('sha256').update(key.trim().toLowerCase()).digest('base64url')}`;
  }
}
