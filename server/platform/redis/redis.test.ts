import { describe, expect, it } from 'vitest';
import { parseConfig, redisUrlFor } from '../../config/env.ts';
import { createRedisHub, redisNode, serverChecks } from './redis.ts';

describe('a Redis per role', () => {
  it('reads REDIS_<ROLE>_URL for the six roles, each falling back to REDIS_URL', () => {
    const config = parseConfig({
      NODE_ENV: 'test',
      REDIS_URL: 'redis://main:6379',
      REDIS_CACHE_URL: 'redis://cache:6380',
      REDIS_QUEUE_URL: 'rediss://user:secret@queue:6381/2',
    });
    expect(config.redisRoleUrls).toEqual({
      cache: 'redis://cache:6380',
      queue: 'rediss://user:secret@queue:6381/2',
    });
    expect(redisUrlFor(config, 'cache')).toBe('redis://cache:6380');
    expect(redisUrlFor(config, 'sessions')).toBe('redis://main:6379');
    expect(() => parseConfig({ NODE_ENV: 'test', REDIS_LIMITS_URL: 'http://limits' })).toThrow(
      /REDIS_LIMITS_URL/,
    );
  });

  it('routes both pub/sub connections to the realtime server and the rest by role (no connection is opened)', () => {
    const hub = createRedisHub('redis://main:6379', 'k:', undefined, {
      realtime: 'redis://rt:7000',
      sessions: 'redis://sess:7001',
    });
    expect(hub.urlFor('pubsub')).toBe('redis://rt:7000');
    expect(hub.urlFor('publish')).toBe('redis://rt:7000');
    expect(hub.urlFor('sessions')).toBe('redis://sess:7001');
    expect(hub.urlFor('cache')).toBe('redis://main:6379');
    expect(hub.urlFor('queue')).toBe('redis://main:6379');
  });

  it('checks each distinct server once, named after its roles, and never prints credentials', () => {
    expect(serverChecks('redis://main:6379', {})).toEqual([
      {
        serverUrl: 'redis://main:6379',
        roles: ['sessions', 'cache', 'limits', 'realtime', 'queue', 'metrics'],
        key: 'redis:responseTime',
      },
    ]);
    const checks = serverChecks('redis://main:6379', {
      cache: 'redis://c:1',
      metrics: 'redis://c:1',
      queue: 'redis://main:6379',
    });
    expect(checks.map((c) => [c.key, c.roles])).toEqual([
      ['redis:responseTime', ['sessions', 'limits', 'realtime', 'queue']],
      ['redis-cache-metrics:responseTime', ['cache', 'metrics']],
    ]);
    expect(redisNode('rediss://user:secret@queue.example:6381/2')).toBe('queue.example:6381');
  });
});
