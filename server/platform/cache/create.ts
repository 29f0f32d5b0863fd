import type { Config } from '../../config/env.ts';
import type { Logger } from '../logger/logger.ts';
import type { PubSub } from '../pubsub/pubsub.ts';
import type { RedisHub } from '../redis/redis.ts';
import { RedisCacheBus } from './bus.ts';
import { Cache, type CacheOptions } from './cache.ts';

export type CacheTuning = Omit<CacheOptions, 'redis' | 'keyspace' | 'environment' | 'bus' | 'logger'>;

/** The process's cache on its own Redis connection and key space, invalidating other processes through pub/sub. */
export function createCache(
  config: Pick<Config, 'env'>,
  redis: RedisHub,
  pubsub: PubSub,
  logger?: Logger,
  tuning: CacheTuning & { ackTimeoutMs?: number } = {},
): Cache {
  const { ackTimeoutMs = 1000, ...rest } = tuning;
  const bus = new RedisCacheBus(pubsub, ackTimeoutMs, logger);
  return new Cache({
    redis: redis.get('cache'),
    keyspace: redis.keyspace('cache'),
    environment: config.env,
    bus,
    ...(logger ? { logger } : {}),
    ...rest,
  });
}
