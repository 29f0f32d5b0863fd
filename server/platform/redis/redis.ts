import { Redis, type RedisOptions } from 'ioredis';
import { runDetached } from '../async/detached.ts';
import type { Logger } from '../logger/logger.ts';

/**
 * Each concern gets its own connection and key space, so that flushing or overloading one (the cache, say)
 * never resets rate limits or signs anybody out, and a blocking or subscribed connection never delays others.
 */
export type RedisRole =
  'sessions' | 'cache' | 'limits' | 'pubsub' | 'publish' | 'health' | 'queue' | 'metrics';

export interface RedisHub {
  url: string;
  prefix: string;
  get(role: RedisRole): Redis;
  /** Key prefix for a role, e.g. `keel:sess:`. */
  keyspace(role: RedisRole): string;
  close(): Promise<void>;
}

const ROLE_PREFIX: Record<RedisRole, string> = {
  sessions: 'sess:',
  cache: 'cache:',
  limits: 'rl:',
  pubsub: 'ps:',
  publish: 'ps:',
  health: 'health:',
  queue: 'q:',
  metrics: 'metrics:',
};

// The job index writes a few commands per job from many concurrent handlers: batching them per tick keeps the
// queue layer's Redis round trips close to bee-queue's own.
const ROLE_OPTIONS: Partial<Record<RedisRole, RedisOptions>> = { queue: { enableAutoPipelining: true } };

export function redisOptions(url: string): RedisOptions {
  return {
    // Fail a command quickly when Redis is unreachable instead of queueing it forever: callers decide what a
    // missing Redis means (a 503 for sessions, a fallback for the cache, a memory limiter for rate limits).
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 2000,
    enableOfflineQueue: true,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    lazyConnect: false,
    connectionName: 'keel',
    ...parseRedisUrlOptions(url),
  };
}

function parseRedisUrlOptions(url: string): RedisOptions {
  const u = new URL(url);
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0,
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

export function createRedisHub(url: string, prefix: string, logger?: Logger): RedisHub {
  const connections = new Map<RedisRole, Redis>();
  const lastErrorLog = new Map<RedisRole, number>();
  return {
    url,
    prefix,
    get(role) {
      let conn = connections.get(role);
      if (!conn) {
        // A connection may first be asked for while a request is served; its socket, reconnect timers and event
        // listeners (pub/sub messages) would keep that request's scope for the life of the process.
        conn = runDetached(
          () => new Redis({ ...redisOptions(url), ...ROLE_OPTIONS[role], connectionName: `keel:${role}` }),
        );
        conn.on('error', (err: Error) => {
          // A down Redis emits an error per reconnect attempt; one line per role every 10 s is enough.
          const now = Date.now();
          if (now - (lastErrorLog.get(role) ?? 0) > 10_000) {
            lastErrorLog.set(role, now);
            logger?.warn({ err: err.message, role }, 'redis connection error');
          }
        });
        connections.set(role, conn);
      }
      return conn;
    },
    keyspace(role) {
      return `${prefix}${ROLE_PREFIX[role]}`;
    },
    async close() {
      await Promise.all([...connections.values()].map((c) => c.quit().catch(() => c.disconnect())));
      connections.clear();
    },
  };
}
