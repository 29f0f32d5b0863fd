import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { REDIS_URL_ROLES, type RedisRoleUrls, type RedisUrlRole } from '../../config/env.ts';
import { parseRedisUrl, redisNodes } from '../../config/redis-url.ts';
import { runDetached } from '../async/detached.ts';
import type { HealthCheck } from '../health/health.ts';
import type { Logger } from '../logger/logger.ts';

/**
 * Each concern gets its own connection and key space, so that flushing or overloading one (the cache, say)
 * never resets rate limits or signs anybody out, and a blocking or subscribed connection never delays others.
 */
export type RedisRole = 'sessions' | 'cache' | 'limits' | 'pubsub' | 'publish' | 'queue' | 'metrics';

/**
 * A role's connection: one server or a Redis Cluster (REDIS_<ROLE>_URL of the form redis+cluster://…). Both
 * ioredis classes share the command interface Keel uses; code that needs to know (pub/sub, keyspace scans, WAIT)
 * asks `isCluster`.
 */
export type RedisClient = Redis | Cluster;

export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster;
}

/** The roles that may run on a Redis Cluster: every one but the queue (its scripts span slots; ADR 0022). */
export type ClusterableRole = Exclude<RedisRole, 'queue'>;

export interface RedisHub {
  /** The default server (REDIS_URL). */
  url: string;
  prefix: string;
  /** The queue role is always one server: env.ts refuses a cluster URL for it. */
  get(role: 'queue'): Redis;
  get(role: ClusterableRole): RedisClient;
  /** The server a role's connections go to (its REDIS_<ROLE>_URL, else REDIS_URL). */
  urlFor(role: RedisRole): string;
  /** Key prefix for a role, e.g. `keel:sess:`. */
  keyspace(role: RedisRole): string;
  /** One readiness check per distinct server, named after the roles it holds (see serverChecks). */
  healthChecks(): HealthCheck[];
  close(): Promise<void>;
}

/** Which configurable server each connection role lives on: both pub/sub connections are the realtime role. */
const URL_ROLE: Record<RedisRole, RedisUrlRole> = {
  sessions: 'sessions',
  cache: 'cache',
  limits: 'limits',
  pubsub: 'realtime',
  publish: 'realtime',
  queue: 'queue',
  metrics: 'metrics',
};

// Losing these only degrades Keel (the cache answers from memory or the factory, metrics pause), so a server that
// holds nothing else makes readiness warn, not fail: failing would take every node out of the load balancer for
// something each node survives.
const DEGRADABLE: ReadonlySet<RedisUrlRole> = new Set(['cache', 'metrics']);

const ROLE_PREFIX: Record<RedisRole, string> = {
  sessions: 'sess:',
  cache: 'cache:',
  limits: 'rl:',
  pubsub: 'ps:',
  publish: 'ps:',
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

/** `host:port` of a server (the seeds of a cluster), never credentials: readiness and logs name the failing node. */
export const redisNode = redisNodes;

/**
 * The cluster client of a role. Seeds are any few nodes; ioredis learns the others and follows MOVED/ASK during
 * resharding and failover. `dnsLookup` passes host names through unresolved: managed clusters (ElastiCache,
 * Memorystore) announce names whose TLS certificates are for the name, not its address.
 */
export function createCluster(url: string, connectionName: string, extra: ClusterOptions = {}): Cluster {
  const parsed = parseRedisUrl(url);
  if (parsed.kind !== 'cluster') throw new Error('createCluster needs a redis+cluster:// URL');
  return new Cluster(parsed.seeds, {
    dnsLookup: (address, callback) => callback(null, address),
    // Reads stay on masters: a replica lags, and sessions and limits must read what was just written.
    scaleReads: 'master',
    // A failover takes about cluster-node-timeout; commands wait (bounded by commandTimeout) instead of failing.
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
    slotsRefreshTimeout: 2000,
    redisOptions: {
      // No retryStrategy of its own: a node connection that closes is dropped and the slot table refreshed, so
      // commands go to the replica promoted in its place instead of queueing for a master that is gone.
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      commandTimeout: 2000,
      connectionName,
      ...(parsed.username ? { username: parsed.username } : {}),
      ...(parsed.password ? { password: parsed.password } : {}),
      ...(parsed.tls ? { tls: {} } : {}),
    },
    ...extra,
  });
}

/**
 * One connection of a role. On a cluster, the subscriber connection uses sharded pub/sub (SSUBSCRIBE): one
 * subscriber per master, each holding the channels of its slots.
 */
function connect(url: string, role: RedisRole): RedisClient {
  const name = `keel:${role}`;
  if (parseRedisUrl(url).kind === 'cluster') {
    return createCluster(url, name, role === 'pubsub' ? { shardedSubscribers: true } : {});
  }
  return new Redis({ ...redisOptions(url), ...ROLE_OPTIONS[role], connectionName: name });
}

export function createRedisHub(
  url: string,
  prefix: string,
  logger?: Logger,
  roleUrls: RedisRoleUrls = {},
): RedisHub {
  const connections = new Map<RedisRole, RedisClient>();
  const healthConnections = new Map<string, RedisClient>();
  const lastErrorLog = new Map<RedisRole, number>();
  const urlFor = (role: RedisRole): string => {
    return roleUrls[URL_ROLE[role]] ?? url;
  };
  return {
    url,
    prefix,
    urlFor,
    get: ((role: RedisRole): RedisClient => {
      let conn = connections.get(role);
      if (!conn) {
        // A connection may first be asked for while a request is served; its socket, reconnect timers and event
        // listeners (pub/sub messages) would keep that request's scope for the life of the process.
        conn = runDetached(() => connect(urlFor(role), role));
        conn.on('error', (err: Error) => {
          // A down Redis emits an error per reconnect attempt; one line per role every 10 s is enough.
          const now = Date.now();
          if (now - (lastErrorLog.get(role) ?? 0) > 10_000) {
            lastErrorLog.set(role, now);
            logger?.warn({ err: err.message, role, node: redisNode(urlFor(role)) }, 'redis connection error');
          }
        });
        connections.set(role, conn);
      }
      return conn;
    }) as RedisHub['get'],
    keyspace(role) {
      return `${prefix}${ROLE_PREFIX[role]}`;
    },
    healthChecks() {
      return serverChecks(url, roleUrls).map(({ serverUrl, roles, key }) => {
        const degradable = roles.every((r) => DEGRADABLE.has(r));
        const ping = () => {
          let conn = healthConnections.get(serverUrl);
          if (!conn) {
            // First asked for by a /readyz request: detached like the role connections.
            conn = runDetached(() =>
              parseRedisUrl(serverUrl).kind === 'cluster'
                ? createCluster(serverUrl, 'keel:health')
                : new Redis({ ...redisOptions(serverUrl), connectionName: 'keel:health' }),
            );
            conn.on('error', () => {}); // the check reports it; the role connections log it
            healthConnections.set(serverUrl, conn);
          }
          return isCluster(conn) ? checkCluster(conn) : conn.ping();
        };
        return {
          key,
          componentType: 'datastore',
          ...(degradable ? { onFailure: 'warn' as const } : {}),
          run: () =>
            ping().catch((err: unknown) => {
              const message = err instanceof Error ? err.message : String(err);
              throw new Error(`redis for ${roles.join(', ')} at ${redisNode(serverUrl)}: ${message}`);
            }),
        } satisfies HealthCheck;
      });
    },
    async close() {
      const all = [...connections.values(), ...healthConnections.values()];
      await Promise.all(all.map((c) => c.quit().catch(() => c.disconnect())));
      connections.clear();
      healthConnections.clear();
    },
  };
}

/**
 * A cluster is ready when every master that serves slots (in the client's slot table) is connected, answers, and
 * reports `cluster_state:ok`. The error names the node that does not, so /readyz says which one to look at: right
 * after a master dies the others still report ok (until cluster-node-timeout), but its slots have no server.
 */
async function checkCluster(cluster: Cluster): Promise<void> {
  if (!cluster.nodes('master').length) await cluster.ping(); // not connected yet: connects, or throws why not
  // The topology as the cluster sees it now (a replica promoted since the last MOVED is otherwise unknown here);
  // a failed refresh keeps the last known table, whose unreachable master the checks below then name.
  await new Promise<void>((resolve) => cluster.refreshSlotsCache(() => resolve()));
  const owners = new Set<string>();
  for (let slot = 0; slot < 16384; slot++) {
    const owner = cluster.slots[slot]?.[0];
    if (!owner) throw new Error(`slot ${slot} has no master (cluster is incomplete)`);
    owners.add(owner);
  }
  const masters = new Map(cluster.nodes('master').map((n) => [`${n.options.host}:${n.options.port}`, n]));
  await Promise.all(
    [...owners].map(async (at) => {
      const node = masters.get(at);
      if (!node) throw new Error(`node ${at}: not connected`);
      let timer: NodeJS.Timeout | undefined;
      let info: string;
      try {
        info = String(
          await Promise.race([
            node.cluster('INFO'),
            new Promise<never>((_, reject) => {
              timer = setTimeout(() => reject(new Error('no answer within 1000 ms')), 1000);
            }),
          ]),
        );
      } catch (err) {
        throw new Error(`node ${at}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      } finally {
        clearTimeout(timer);
      }
      const state = /cluster_state:(\w+)/.exec(info)?.[1];
      if (state !== 'ok') throw new Error(`node ${at} reports cluster_state:${state ?? 'unknown'}`);
    }),
  );
}

/**
 * The distinct servers behind the roles. The default server keeps the check key `redis:responseTime` (what
 * monitoring already watches); a server of its own is `redis-<roles>:responseTime`, e.g. `redis-cache`.
 */
export function serverChecks(
  url: string,
  roleUrls: RedisRoleUrls,
): Array<{ serverUrl: string; roles: RedisUrlRole[]; key: string }> {
  const byUrl = new Map<string, RedisUrlRole[]>([[url, []]]);
  for (const role of REDIS_URL_ROLES) {
    const serverUrl = roleUrls[role] ?? url;
    byUrl.set(serverUrl, [...(byUrl.get(serverUrl) ?? []), role]);
  }
  return [...byUrl].map(([serverUrl, roles]) => ({
    serverUrl,
    roles,
    key: serverUrl === url ? 'redis:responseTime' : `redis-${roles.join('-')}:responseTime`,
  }));
}
