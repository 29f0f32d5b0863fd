import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { AppError } from '../../../shared/errors.ts';
import { sendError } from '../http/error-reply.ts';
import type { PolicyName } from './policies.ts';
import type { RateLimitDecision, RateLimits } from './rate-limiter.ts';

/** X-RateLimit-Reset is the end of the window in Unix seconds (GitHub's convention); Retry-After is in seconds. */
export function setRateLimitHeaders(reply: FastifyReply, d: RateLimitDecision): void {
  reply.header('x-ratelimit-limit', d.limit);
  reply.header('x-ratelimit-remaining', d.remaining);
  reply.header('x-ratelimit-reset', Math.ceil(d.resetAt / 1000));
  if (!d.allowed) reply.header('retry-after', d.retryAfter);
}

/**
 * A Fastify preHandler enforcing a policy on a plain HTTP route (webhooks, downloads): every response carries the
 * X-RateLimit headers, and a refusal is a 429 in the API's error shape.
 */
export function rateLimitPreHandler(
  limits: RateLimits,
  policy: PolicyName,
  keyOf: (req: FastifyRequest) => string,
): preHandlerAsyncHookHandler {
  return async (req, reply) => {
    const d = await limits.consume(policy, keyOf(req));
    setRateLimitHeaders(reply, d);
    if (!d.allowed) {
      return sendError(
        req,
        reply,
        new AppError('RATE_LIMITED', `Too many requests, retry in ${d.retryAfter} s`, {
          retryAfter: d.retryAfter,
        }),
      );
    }
  };
}
