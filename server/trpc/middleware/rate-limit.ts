import { AppError } from '../../../shared/errors.ts';
import type { PolicyName } from '../../platform/rate-limit/policies.ts';
import type { InnerContext } from '../context.ts';

/**
 * Enforces a named policy (server/platform/rate-limit/policies.ts) for a key. A refusal is an AppError RATE_LIMITED,
 * which the error formatter turns into TOO_MANY_REQUESTS with `retryAfter` (seconds) in error.data.
 */
export async function enforceRateLimit(ctx: InnerContext, policy: PolicyName, key: string): Promise<void> {
  const decision = await ctx.deps.rateLimits.consume(policy, key);
  const current = ctx.limits.decision;
  if (!current || !decision.allowed || (current.allowed && decision.remaining < current.remaining)) {
    ctx.limits.decision = decision;
  }
  if (!decision.allowed) {
    throw new AppError('RATE_LIMITED', `Too many requests, retry in ${decision.retryAfter} s`, {
      retryAfter: decision.retryAfter,
      policy,
    });
  }
}
