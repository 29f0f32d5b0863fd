import { AppError } from '../../../shared/errors.ts';
import type { PolicyName } from '../../platform/rate-limit/policies.ts';
import type { InnerContext } from '../context.ts';
import { middleware } from '../init.ts';
import type { Auth } from './authenticate.ts';

type LimitedContext = InnerContext & { auth?: Auth };

/**
 * Enforces a named policy (server/platform/rate-limit/policies.ts) on a procedure. A refusal is an AppError
 * RATE_LIMITED, which the error formatter turns into TOO_MANY_REQUESTS with `retryAfter` (seconds) in error.data.
 */
export const rateLimit = (policy: PolicyName, keyOf: (ctx: LimitedContext) => string) =>
  middleware(async ({ ctx, next }) => {
    const decision = await ctx.deps.rateLimits.consume(policy, keyOf(ctx as LimitedContext));
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
    return next();
  });

/** `api`: per user once authenticated, per IP before. */
export const apiRateLimit = rateLimit('api', (ctx) =>
  ctx.auth ? `user:${ctx.auth.user.id}` : `ip:${ctx.ip}`,
);
/** `login` and `register`: per client IP (behind a proxy this needs TRUST_PROXY set to its hops or addresses, or every user shares one IP). */
export const loginRateLimit = rateLimit('login', (ctx) => `ip:${ctx.ip}`);
export const registerRateLimit = rateLimit('register', (ctx) => `ip:${ctx.ip}`);
