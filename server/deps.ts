import type { Config } from './config/env.ts';
import { createOrm, rootEm, type Orm } from './platform/db/orm.ts';
import type { Em } from './platform/db/context.ts';
import { createLogger, type Logger } from './platform/logger/logger.ts';
import { Observability } from './platform/metrics/observability.ts';
import type { HealthCheck } from './platform/health/health.ts';
import { diskCheck, memoryCheck } from './platform/health/system-checks.ts';
import { PubSub } from './platform/pubsub/pubsub.ts';
import { createRedisHub, type RedisHub } from './platform/redis/redis.ts';
import { ActivityPublisher } from './modules/activity/activity.publisher.ts';
import { SessionStore } from './modules/auth/session.store.ts';
import { entities } from './modules/entities.ts';

/** The long-lived things a process needs: built once at start-up, shared by every request and job. */
export interface AppDeps {
  config: Config;
  logger: Logger;
  orm: Orm;
  em: Em;
  redis: RedisHub;
  sessions: SessionStore;
  pubsub: PubSub;
  observability: Observability;
  /** Readiness checks; modules add theirs (queue depth, storage) when they start. */
  healthChecks: HealthCheck[];
  close(): Promise<void>;
}

export async function createDeps(config: Config, opts: { logger?: Logger } = {}): Promise<AppDeps> {
  const logger = opts.logger ?? createLogger({ level: config.logLevel, pretty: config.logPretty });
  if (!config.redisUrl)
    throw new Error('createDeps needs config.redisUrl (main.ts starts a local Redis when unset)');
  const redis = createRedisHub(config.redisUrl, config.keyPrefix, logger);
  const observability = new Observability(redis.get('metrics'), redis.keyspace('metrics'));
  const orm = await createOrm({
    databaseUrl: config.databaseUrl,
    pgliteDir: config.pgliteDir,
    entities,
    poolMax: config.dbPoolMax,
    logger,
    onQuery: (sql, ms) => observability.recordQuery(sql, ms),
  });
  const sessions = new SessionStore(
    redis.get('sessions'),
    redis.keyspace('sessions'),
    config.sessionTtlSeconds,
  );
  const pubsub = new PubSub(redis.get('publish'), redis.get('pubsub'), redis.keyspace('pubsub'), logger);
  orm.em.getEventManager().registerSubscriber(new ActivityPublisher(pubsub));
  return {
    config,
    logger,
    orm,
    em: rootEm(orm),
    redis,
    sessions,
    pubsub,
    observability,
    healthChecks: [
      {
        key: 'postgres:responseTime',
        componentType: 'datastore',
        run: () => orm.em.getConnection().execute('select 1'),
      },
      { key: 'redis:responseTime', componentType: 'datastore', run: () => redis.get('health').ping() },
      diskCheck(process.cwd()),
      memoryCheck(),
    ],
    async close() {
      await observability.stop();
      await redis.close();
      await orm.close(true);
    },
  };
}
