import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { AppError } from '../../../shared/errors.ts';
import type { AppDeps } from '../../app-deps.ts';

const limiters = new WeakMap<AppDeps, RateLimiterRedis>();

function limiterFor(deps: AppDeps): RateLimiterRedis {
  let limiter = limiters.get(deps);
  if (!limiter) {
    const { signalBurst, signalsPerSecond } = deps.realtime.limits;
    // A bucket of `signalBurst` refilled over the time `signalsPerSecond` takes to send that many.
    const duration = Math.max(1, Math.ceil(signalBurst / signalsPerSecond));
    const keyPrefix = `${deps.redis.keyspace('limits')}doc-signal`;
    limiter = new RateLimiterRedis({
      storeClient: deps.redis.get('limits'),
      points: signalBurst,
      duration,
      keyPrefix,
      insuranceLimiter: new RateLimiterMemory({ points: signalBurst, duration, keyPrefix }),
    });
    limiters.set(deps, limiter);
  }
  return limiter;
}

/** Client events are cheap to send and fan out to every viewer: each user gets a budget per document. */
export async function limitSignal(deps: AppDeps, userId: string, documentId: string): Promise<void> {
  try {
    await limiterFor(deps).consume(`${userId}:${documentId}`);
  } catch (res) {
    if (res instanceof RateLimiterRes) {
      const retryAfter = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
      throw new AppError('RATE_LIMITED', 'Too many signals for this document, slow down', { retryAfter });
    }
    throw res;
  }
}
