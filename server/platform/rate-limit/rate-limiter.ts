import { createHash } from 'node:crypto';
import type { RedisClient } from '../redis/redis.ts';
import {
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  RLWrapperTimeouts,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible';
import { AppError } from '../../../shared/errors.ts';
import type { Logger } from '../logger/logger.ts';
import { Backoff, SIGN_IN_BACKOFF, type BackoffPolicy } from './backoff.ts';
import { LeasedBudgets } from './lease.ts';
import { RATE_LIMIT_POLICIES, type PolicyName, type RateLimitPolicy } from './policies.ts';

export interface RateLimitDecision {
  allowed: boolean;
  policy: PolicyName;
  /** The binding rule's size, what is left in its window, and when that window ends (ms since epoch). */
  limit: number;
  remaining: number;
  resetAt: number;
  /** Whole seconds to wait before retrying; 0 when allowed. */
  retryAfter: number;
}

export interface RateLimitsOptions {
  /** The `limits` role connection: a cache flush never touches these keys. */
  redis: RedisClient;
  /** The `limits` key space (`<KEY_PREFIX>rl:`). */
  keyspace: string;
  logger?: Logger;
  /** Longest a Redis call may take before the in-memory insurance limiter answers instead. */
  timeoutMs?: number;
  /** Replaces the built-in policies (tests of exact counts use small windows). */
  policies?: Partial<Record<PolicyName, RateLimitPolicy>>;
  /** Replaces the per-account sign-in backoff policy (tests), and its clock. */
  signInBackoff?: BackoffPolicy;
  now?: () => number;
}

interface Rule {
  points: number;
  global: boolean;
  limiter: RateLimiterAbstract;
  insurance: RateLimiterAbstract;
  /** Set for a policy with `lease`: points reserved from Redis in batches (while it is down: `insurance`). */
  leased?: LeasedBudgets;
}

/**
 * Named limits, atomic in Redis (a Lua INCR + expiry per key and window) with an in-memory limiter standing in
 * when Redis is unreachable or slower than `timeoutMs`: limits then hold per process instead of across the fleet,
 * which is looser but still a limit, and requests keep being served.
 */
export class RateLimits {
  private readonly rules = new Map<PolicyName, Rule[]>();
  /** Per account (email): exponential delay after failed sign-ins, never a lock (backoff.ts). */
  readonly signInBackoff: Backoff;

  constructor(private readonly opts: RateLimitsOptions) {
    this.signInBackoff = new Backoff(
      opts.redis,
      `${opts.keyspace}backoff:sign_in:`,
      opts.signInBackoff ?? SIGN_IN_BACKOFF,
      opts.now,
    );
    const policies = { ...RATE_LIMIT_POLICIES, ...opts.policies } as Record<PolicyName, RateLimitPolicy>;
    for (const [name, policy] of Object.entries(policies) as [PolicyName, RateLimitPolicy][]) {
      if (policy.lease && (policy.rules.length !== 1 || policy.rules[0]?.global)) {
        throw new Error(`Rate-limit policy "${name}": lease needs exactly one rule, per key`);
      }
      this.rules.set(
        name,
        policy.rules.map((rule, i) => {
          const keyPrefix = `${opts.keyspace}${name}:${i}`;
          const insurance = new RateLimiterMemory({
            points: rule.points,
            duration: rule.duration,
            keyPrefix,
          });
          const redisLimiter = new RateLimiterRedis({
            storeClient: opts.redis,
            points: rule.points,
            duration: rule.duration,
            keyPrefix,
            insuranceLimiter: insurance,
          });
          const limiter = new RLWrapperTimeouts({
            limiter: redisLimiter,
            timeoutMs: opts.timeoutMs ?? 250,
            insuranceLimiter: insurance,
          });
          const leased = policy.lease && policy.lease > 1 ? new LeasedBudgets(policy.lease) : undefined;
          return {
            points: rule.points,
            global: Boolean(rule.global),
            limiter,
            insurance,
            ...(leased ? { leased } : {}),
          };
        }),
      );
    }
  }

  policy(name: PolicyName): RateLimitPolicy {
    return { ...RATE_LIMIT_POLICIES, ...this.opts.policies }[name] as RateLimitPolicy;
  }

  /** Takes `points` from every rule of the policy; a refusal gives back what the earlier rules took. */
  async consume(name: PolicyName, key: string, points = 1): Promise<RateLimitDecision> {
    const rules = this.rules.get(name);
    if (!rules) throw new Error(`Unknown rate-limit policy "${name}"`);
    const k = normalizeKey(key);
    // While Redis is known to be down, go straight to memory instead of waiting out a timeout per request. (The
    // library's own readiness check would also send the first requests of a process, made while the connection
    // is still being established, to memory.)
    const status = this.opts.redis.status;
    const redisDown = status === 'reconnecting' || status === 'close' || status === 'end';
    const pick = (rule: Rule) => (redisDown ? rule.insurance : rule.limiter);
    // Leasing saves Redis round trips; with Redis down the memory limiter below answers each call itself.
    const only = rules[0];
    if (only?.leased && !redisDown) {
      const outcome = await only.leased.consume(only.limiter, k, points);
      return decision(
        name,
        only,
        { remainingPoints: outcome.remaining, msBeforeNext: outcome.msBeforeNext },
        outcome.allowed,
      );
    }
    const taken: Rule[] = [];
    let binding: { rule: Rule; res: RateLimiterRes } | undefined;
    for (const rule of rules) {
      const ruleKey = rule.global ? 'all' : k;
      try {
        const res = await pick(rule).consume(ruleKey, points);
        taken.push(rule);
        if (!binding || res.remainingPoints < binding.res.remainingPoints) binding = { rule, res };
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) throw err;
        await Promise.all(
          taken.map((r) =>
            pick(r)
              .reward(r.global ? 'all' : k, points)
              .catch(() => undefined),
          ),
        );
        return decision(name, rule, err, false);
      }
    }
    return decision(name, binding!.rule, binding!.res, true);
  }

  /** For services: consumes, and throws RATE_LIMITED (with retryAfter for clients) when refused. */
  async enforce(name: PolicyName, key: string, points = 1): Promise<RateLimitDecision> {
    const d = await this.consume(name, key, points);
    if (!d.allowed) {
      throw new AppError('RATE_LIMITED', `Too many requests, retry in ${d.retryAfter} s`, {
        retryAfter: d.retryAfter,
        policy: name,
      });
    }
    return d;
  }
}

function decision(
  policy: PolicyName,
  rule: Rule,
  res: Pick<RateLimiterRes, 'remainingPoints' | 'msBeforeNext'>,
  allowed: boolean,
): RateLimitDecision {
  const ms = Math.max(0, res.msBeforeNext);
  return {
    allowed,
    policy,
    limit: rule.points,
    remaining: Math.max(0, res.remainingPoints),
    resetAt: Date.now() + ms,
    retryAfter: allowed ? 0 : Math.max(1, Math.ceil(ms / 1000)),
  };
}

// Keys are caller-chosen text (emails, IPs): bounded in length and case so one address is one counter.
function normalizeKey(key: string): string {
  const k = key.trim().toLowerCase();
  return k.length <= 128 ? k : createHash('sha256').update(k).digest('base64url');
}
