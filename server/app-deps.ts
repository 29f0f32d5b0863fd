import type { Config } from './config/env.ts';
import type { Cache } from './platform/cache/cache.ts';
import type { Orm } from './platform/db/orm.ts';
import type { Em } from './platform/db/context.ts';
import type { ReadYourWrites } from './platform/db/replicas/read-your-writes.ts';
import type { Logger } from './platform/logger/logger.ts';
import type { Observability } from './platform/metrics/observability.ts';
import type { HealthCheck } from './platform/health/health.ts';
import type { PubSub } from './platform/pubsub/pubsub.ts';
import type { Realtime } from './platform/realtime/realtime.ts';
import type { RateLimits } from './platform/rate-limit/rate-limiter.ts';
import type { RedisHub } from './platform/redis/redis.ts';
import type { QueueSystem } from './platform/queue/system.ts';
import type { Mailer } from './platform/mail/mailer.ts';
import type { Storage } from './platform/storage/storage.ts';
import type { SessionStore } from './modules/auth/session.store.ts';
import type { AccessService } from './modules/access/access.service.ts';
import type { PrincipalCache } from './modules/access/principal-cache.ts';
import type { FlagService } from './modules/flags/flags.service.ts';
import type { BillingSandbox } from './modules/billing/sandbox/sandbox.ts';

// Types only. Modules take their services' types from here and `createDeps` (deps.ts, the composition root) builds
// them; were these types in deps.ts, every module using them would import the file that imports every module.

/** The long-lived things a process needs: built once at start-up, shared by every request and job. */
export interface AppDeps {
  config: Config;
  logger: Logger;
  orm: Orm;
  em: Em;
  /** Read replicas' per-principal read-your-writes (a pass-through without DATABASE_REPLICA_URLS, ADR 0013). */
  readYourWrites: ReadYourWrites;
  redis: RedisHub;
  sessions: SessionStore;
  pubsub: PubSub;
  /** Durable channels, presence, WebSocket limits and live-subscription revocation (platform/realtime). */
  realtime: Realtime;
  observability: Observability;
  /** The access policy: credentials → principal → membership, cached in process (modules/access, ADR 0070). */
  access: AccessService;
  principals: PrincipalCache;
  /** Two-layer cache (memory + Redis), per-tenant scopes via `cache.tenant(id)`. */
  cache: Cache;
  rateLimits: RateLimits;
  flags: FlagService;
  /** Readiness checks; modules add theirs (queue depth, storage) when they start. */
  healthChecks: HealthCheck[];
  /** Dispatch and job-system reads; created on first use (bee-queue opens its connections then). */
  readonly queue: QueueSystem;
  /** Private files (exports, imports): local directory or S3 (platform/storage). */
  storage: Storage;
  /** SMTP, or the .eml outbox without SMTP_URL; modules send through the `mail` queue, not directly. */
  mailer: Mailer;
  /** The billing sandbox this process runs (config.billing points at it), or null with Stripe or no billing. */
  billingSandbox: BillingSandbox | null;
  close(): Promise<void>;
}

/**
 * What job handlers, `failed()` hooks and callbacks get as `ctx.services` (modules/jobs/define.ts). `em` is the
 * unscoped root manager; a handler's tenant-scoped one is `ctx.em`.
 */
export type JobServices = Pick<
  AppDeps,
  'config' | 'logger' | 'em' | 'storage' | 'mailer' | 'rateLimits' | 'realtime' | 'queue'
>;
