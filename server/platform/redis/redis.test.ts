import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, redisUrlFor } from '../../config/env.ts';
import { parseRedisUrl } from '../../config/redis-url.ts';
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

  it('reads a cluster URL: seeds, ACL user and password, TLS; refuses malformed ones with the reason', () => {
    expect(parseRedisUrl('rediss+cluster://app:p%40ss@node-a.cache.example:6379,[::1]:7001')).toEqual({
      kind: 'cluster',
      seeds: [
        { host: 'node-a.cache.example', port: 6379 },
        { host: '::1', port: 7001 },
      ],
      username: 'app',
      password: 'p@ss',
      tls: true,
    });
    expect(parseRedisUrl('redis+cluster://127.0.0.1:7000')).toEqual({
      kind: 'cluster',
      seeds: [{ host: '127.0.0.1', port: 7000 }],
      tls: false,
    });
    expect(() => parseRedisUrl('redis+cluster://a:7000,b')).toThrow(/seed "b" is not host:port/);
    expect(() => parseRedisUrl('redis+cluster://a:7000/2')).toThrow(/only database 0/);
    expect(() =>
      parseConfig({ NODE_ENV: 'test', REDIS_CACHE_URL: 'redis+cluster://a:7000,b:99999' }),
    ).toThrow(/REDIS_CACHE_URL/);
    expect(redisNode('rediss+cluster://u:secret@a:7000,b:7001')).toBe('cluster a:7000,b:7001');
    const config = parseConfig({
      NODE_ENV: 'test',
      REDIS_URL: 'redis://main:6379',
      REDIS_CACHE_URL: 'redis+cluster://a:7000,b:7001',
      REDIS_SESSIONS_URL: 'rediss+cluster://u:p@a:7000',
    });
    expect(redisUrlFor(config, 'cache')).toBe('redis+cluster://a:7000,b:7001');
  });

  it('refuses a cluster for the queue role at start-up, naming the variable and the alternative', () => {
    const refusal = (env: Record<string, string>) => {
      try {
        parseConfig({ NODE_ENV: 'test', ...env });
      } catch (err) {
        if (err instanceof ConfigError) return err.message;
        throw err;
      }
      return null;
    };
    const viaQueue = refusal({ REDIS_URL: 'redis://main:6379', REDIS_QUEUE_URL: 'redis+cluster://a:7000' });
    expect(viaQueue).toMatch(/REDIS_QUEUE_URL/);
    expect(viaQueue).toMatch(/queue role cannot run on a Redis Cluster/);
    expect(viaQueue).toMatch(/single-node or failover-managed Redis/);
    // The default server is a cluster and nothing moves the queue off it: REDIS_URL is named.
    expect(refusal({ REDIS_URL: 'redis+cluster://a:7000' })).toMatch(/REDIS_URL.*queue role cannot run/s);
    // Every other role on the cluster, the queue on one server: accepted.
    expect(
      refusal({ REDIS_URL: 'redis+cluster://a:7000,b:7001', REDIS_QUEUE_URL: 'redis://queue:6379' }),
    ).toBeNull();
  });
});
