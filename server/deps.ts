import type { AppDeps, JobServices } from './app-deps.ts';
import type { Config } from './config/env.ts';
import { createCache } from './platform/cache/create.ts';
import { createOrm, replicaSetOf, rootEm } from './platform/db/orm.ts';
import { ReadYourWrites } from './platform/db/replicas/read-your-writes.ts';
import { replicaHealthChecks } from './platform/db/replicas/health.ts';
import { createLogger, type Logger } from './platform/logger/logger.ts';
import { Observability } from './platform/metrics/observability.ts';
import { createErrorReporter } from './platform/errors/sentry.ts';
import { diskCheck, memoryCheck } from './platform/health/system-checks.ts';
import { PubSub } from './platform/pubsub/pubsub.ts';
import { Realtime } from './platform/realtime/realtime.ts';
import { RateLimits, type RateLimitsOptions } from './platform/rate-limit/rate-limiter.ts';
import { createRedisHub } from './platform/redis/redis.ts';
import { ActivityPublisher } from './modules/activity/activity.publisher.ts';
import { SessionStore } from './modules/auth/session.store.ts';
import { AccessService } from './modules/access/access.service.ts';
import { PrincipalCache } from './modules/access/principal-cache.ts';
import { RedisCacheBus } from './platform/cache/bus.ts';
import { AccessWatcher } from './modules/realtime/access-watcher.ts';
import { DashboardInvalidator } from './modules/dashboard/dashboard.invalidator.ts';
import { FlagService } from './modules/flags/flags.service.ts';
import { entities } from './modules/entities.ts';
import { failedJobStore } from './modules/jobs/jobs.service.ts';
import { jobDefinitions } from './modules/jobs/definitions.ts';
import { queueDepthCheck } from './platform/queue/depth.ts';
import { queueSettingsFor } from './platform/queue/settings.ts';
import { JobRegistry } from './platform/queue/registry.ts';
import { QueueSystem } from './platform/queue/system.ts';
import { createMailer } from './platform/mail/mailer.ts';
import { createStorage } from './platform/storage/create.ts';
import type { BillingSandbox } from './modules/billing/sandbox/sandbox.ts';
import { shutdownTracing } from './platform/tracing/shutdown.ts';

// trpc/ reads the type from here; modules read it from app-deps.ts, which imports no module that imports deps.ts.
export type { AppDeps } from './app-deps.ts';

export interface DepsOptions {
  logger?: Logger;
  /** Replaces named rate-limit policies (load benchmarks raise `api`; production uses the built-in ones). */
  rateLimitPolicies?: RateLimitsOptions['policies'];
  /** A started billing sandbox (its `configure` already applied to `config`); closed with the deps. */
  billingSandbox?: BillingSandbox;
}

export async function createDeps(config: Config, opts: DepsOptions = {}): Promise<AppDeps> {
  const logger = opts.logger ?? createLogger({ level: config.logLevel, pretty: config.logPretty });
  if (!config.redisUrl)
    throw new Error('createDeps needs config.redisUrl (main.ts starts a local Redis when unset)');
  const redis = createRedisHub(config.redisUrl, config.keyPrefix, logger, config.redisRoleUrls);
  const observability = new Observability(
    redis.get('metrics'),
    redis.keyspace('metrics'),
    createErrorReporter(config.sentryDsn, config.env, new URL(config.appUrl).host),
  );
  const orm = await createOrm({
    databaseUrl: config.databaseUrl,
    pgliteDir: config.pgliteDir,
    entities,
    poolMax: config.dbPoolMax,
    statementTimeoutMs: config.dbStatementTimeoutMs,
    replicas: config.databaseReplicas,
    logger,
    ...(config.metricsEnabled
      ? { onQuery: (sql: string, ms: number) => observability.recordQuery(sql, ms) }
      : {}),
  });
  const replicas = replicaSetOf(orm);
  if (replicas) observability.trackReplicas(() => replicas.snapshot());
  const sessions = new SessionStore(
    redis.get('sessions'),
    redis.keyspace('sessions'),
    config.sessionTtlSeconds,
  );
  const pubsub = new PubSub(redis.get('publish'), redis.get('pubsub'), redis.keyspace('pubsub'), logger);
  const realtime = new Realtime(redis.get('publish'), pubsub, redis.keyspace('pubsub'), logger);
  orm.em
    .getEventManager()
    .registerSubscriber(new ActivityPublisher({ em: rootEm(orm), log: realtime.log, logger }));
  const principals = new PrincipalCache({
    bus: new RedisCacheBus(pubsub, 1000, logger, 'access:bus'),
    listening: () => pubsub.connected,
    logger,
  });
  await principals.start();
  const access = new AccessService({
    em: rootEm(orm),
    sessions,
    cache: principals,
    revokeLive: (keys) => realtime.revoke(keys),
    sessionTtlSeconds: config.sessionTtlSeconds,
    logger,
  });
  orm.em
    .getEventManager()
    .registerSubscriber(new AccessWatcher((change) => access.invalidate(change), logger));
  const cache = createCache(config, redis, pubsub, logger);
  observability.trackCache(() => cache.stats());
  await cache.start();
  orm.em.getEventManager().registerSubscriber(new DashboardInvalidator(cache, logger));
  const rateLimits = new RateLimits({
    redis: redis.get('limits'),
    keyspace: redis.keyspace('limits'),
    logger,
    ...(opts.rateLimitPolicies ? { policies: opts.rateLimitPolicies } : {}),
  });
  const flags = new FlagService({ em: rootEm(orm), cache, pubsub, logger });
  let queue: QueueSystem | undefined;
  const deps: AppDeps = {
    config,
    logger,
    orm,
    em: rootEm(orm),
    readYourWrites: new ReadYourWrites({
      replicas,
      redis: redis.get('sessions'),
      keyspace: redis.keyspace('sessions'),
      em: rootEm(orm),
      logger,
      // A position must outlive any lag a replica may have and stay in rotation.
      ttlSeconds: Math.max(60, Math.ceil((2 * config.databaseReplicas.maxLagMs) / 1000)),
    }),
    redis,
    sessions,
    pubsub,
    realtime,
    observability,
    access,
    principals,
    cache,
    rateLimits,
    flags,
    storage: createStorage(config),
    mailer: createMailer(config, logger),
    billingSandbox: opts.billingSandbox ?? null,
    healthChecks: [
      {
        key: 'postgres:responseTime',
        componentType: 'datastore',
        run: () => orm.em.getConnection().execute('select 1'),
      },
      ...replicaHealthChecks(replicas, config.databaseReplicas.maxLagMs),
      ...redis.healthChecks(),
      diskCheck(process.cwd()),
      memoryCheck(),
    ],
    get queue() {
      // Handlers get the process's services through their context; `deps.queue` itself is among them.
      const jobServices: JobServices = deps;
      return (queue ??= new QueueSystem({
        config,
        redis: redis.get('queue'),
        em: rootEm(orm),
        logger,
        registry: new JobRegistry(jobDefinitions),
        settings: queueSettingsFor(config.env),
        failedSink: failedJobStore(rootEm(orm), logger),
        services: jobServices,
      }));
    },
    async close() {
      await queue?.close();
      await realtime.close();
      principals.close();
      await observability.stop();
      cache.close();
      deps.mailer.close();
      deps.storage.close?.();
      await deps.billingSandbox?.close();
      await redis.close();
      await orm.close(true);
      await shutdownTracing();
    },
  };
  // Readiness reads the queues' depth through the (lazily created) queue system.
  deps.healthChecks.push(queueDepthCheck(() => deps.queue));
  return deps;
}
