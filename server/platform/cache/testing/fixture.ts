import { PubSub } from '../../pubsub/pubsub.ts';
import { createRedisHub, type RedisHub } from '../../redis/redis.ts';
import type { Cache } from '../cache.ts';
import { createCache, type CacheTuning } from '../create.ts';

export interface CacheFixture {
  cache: Cache;
  hub: RedisHub;
  close(): Promise<void>;
}

/** A started cache with its own Redis connections, as one process of the application would have. */
export async function openCache(
  redisUrl: string,
  prefix: string,
  tuning: CacheTuning = {},
): Promise<CacheFixture> {
  const hub = createRedisHub(redisUrl, prefix);
  const pubsub = new PubSub(hub.get('publish'), hub.get('pubsub'), hub.keyspace('pubsub'));
  const cache = createCache({ env: 'test' }, hub, pubsub, undefined, tuning);
  await cache.start();
  return {
    cache,
    hub,
    async close() {
      cache.close();
      await hub.close();
    },
  };
}
