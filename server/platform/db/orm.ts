import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DefaultLogger,
  MikroORM,
  type LogContext,
  type LoggerNamespace,
  type LoggerOptions,
} from '@mikro-orm/core';
import { Migrator } from '@mikro-orm/migrations';
import { PgliteDriver } from '@mikro-orm/pglite';
import { PostgreSqlConnection, PostgreSqlDriver } from '@mikro-orm/postgresql';
import type { EntityManager } from '@mikro-orm/sql';
import { createLogger, type Logger } from '../logger/logger.ts';
import { contextEm } from './context.ts';
import { KeelPostgreSqlDriver } from './replicas/driver.ts';
import { noteStatement } from './replicas/position.ts';
import { ReplicaSet } from './replicas/replica-set.ts';
import { TenantGuard } from './tenant-guard.ts';
import { poolBounds } from './pg-bounds.ts';
import { installScopeSwitch } from './tenant-scope.ts';

export const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

export interface OrmOptions {
  /** postgres:// URL; when absent an embedded PGlite cluster in `pgliteDir` is used. */
  databaseUrl: string | undefined;
  pgliteDir: string;
  entities: readonly object[];
  poolMax: number;
  /** PostgreSQL's statement_timeout on every pooled connection, with the client's bounds after it (pg-bounds.ts). */
  statementTimeoutMs?: number;
  logger?: Logger;
  debug?: LoggerNamespace[];
  /** Called with every executed statement and its duration (metrics, slow-query log). */
  onQuery?: (sql: string, tookMs: number) => void;
  /** Streaming replicas of databaseUrl that serve reads (docs/decisions/0013-read-replicas.md). */
  replicas?: { urls: string[]; maxLagMs: number; checkMs: number };
}

/** MikroORM's logger, plus a tap that reports each executed statement's duration. */
class ObservingLogger extends DefaultLogger {
  constructor(
    options: LoggerOptions,
    private readonly onQuery: ((sql: string, tookMs: number) => void) | undefined,
    private readonly trackWrites: boolean,
  ) {
    super(options);
  }

  override logQuery(context: { query: string } & LogContext): void {
    if (context.took !== undefined && context.query) this.onQuery?.(context.query, context.took);
    // With replicas, a statement that may have written pins its caller's later reads to the primary (position.ts).
    if (this.trackWrites && context.query) noteStatement(context.query, context.connection?.type);
    super.logQuery(context);
  }
}

/** Host, port and database of a replica URL: its name in logs, /readyz and /metrics (never the password). */
export function replicaName(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
}

export type Orm = MikroORM;

export async function createOrm(opts: OrmOptions): Promise<Orm> {
  const replicaUrls = opts.replicas?.urls ?? [];
  if (replicaUrls.length > 0 && !opts.databaseUrl)
    throw new Error('Read replicas need a PostgreSQL databaseUrl');
  const shared = {
    entities: opts.entities as never,
    extensions: [Migrator],
    allowGlobalContext: false,
    subscribers: [new TenantGuard()],
    context: () => contextEm(),
    forceUtcTimezone: true,
    migrations: {
      path: MIGRATIONS_DIR,
      pathTs: MIGRATIONS_DIR,
      glob: '!(*.d).{js,ts}',
      tableName: 'keel_migrations',
      transactional: true,
      allOrNothing: true,
      silent: true,
      // No snapshot: `migrate:create` diffs entities against the migrated database, so parallel branches that each
      // add a migration do not fight over one snapshot file.
      snapshot: false,
      emit: 'ts' as const,
      fileName: (timestamp: string, name?: string) => `Migration${timestamp}${name ? `_${name}` : ''}`,
    },
    debug: opts.debug ?? false,
    ...(opts.onQuery || replicaUrls.length > 0
      ? {
          loggerFactory: (options: LoggerOptions) =>
            new ObservingLogger(options, opts.onQuery, replicaUrls.length > 0),
        }
      : {}),
    ...(opts.logger ? { logger: (message: string) => opts.logger?.debug({ orm: true }, message) } : {}),
  };
  if (opts.databaseUrl) {
    const orm = await MikroORM.init({
      ...shared,
      driver: replicaUrls.length > 0 ? KeelPostgreSqlDriver : PostgreSqlDriver,
      clientUrl: opts.databaseUrl,
      pool: { min: 0, max: opts.poolMax },
      driverOptions: poolBounds(opts.statementTimeoutMs ?? 0),
      // The tenant scope rides on the pooled connection, switched only when it differs (tenant-scope.ts, ADR 0012),
      // instead of a begin/set_config/set local role/commit transaction around every tenant statement.
      sessionContext: 'connection',
      replicas: replicaUrls.map((clientUrl) => ({ clientUrl, name: replicaName(clientUrl) })),
      // MikroORM's default, stated: reads outside a transaction ask the driver for a 'read' connection (driver.ts).
      preferReadReplicas: true,
    });
    const connection = orm.driver.getConnection();
    if (!(connection instanceof PostgreSqlConnection)) throw new Error('Expected a PostgreSQL connection');
    const logger = orm.config.getLogger();
    const logSwitch = (query: string, took: number) => logger.logQuery({ query, took, level: 'info' });
    installScopeSwitch(connection, logSwitch);
    if (orm.driver instanceof KeelPostgreSqlDriver && opts.replicas) {
      // Every replica session carries the tenant scope exactly as a primary one (ADR 0012): RLS holds on replicas.
      const replicas = orm.driver.replicaConnections();
      for (const replica of replicas) installScopeSwitch(replica, logSwitch);
      const replicaSet = new ReplicaSet({
        primary: (sql) => connection.execute(sql),
        replicas: replicas.map((replica, i) => ({
          name: replicaName(replicaUrls[i]!),
          query: (sql) => replica.probe(sql),
        })),
        maxLagMs: opts.replicas.maxLagMs,
        checkMs: opts.replicas.checkMs,
        logger: opts.logger ?? createLogger({ level: 'silent', pretty: false }),
      });
      await replicaSet.start();
      orm.driver.routeBy(replicaSet);
    }
    return orm;
  }
  mkdirSync(opts.pgliteDir, { recursive: true });
  // PGlite stays on MikroORM's default 'transaction' strategy: it is one in-process session with no pool to hook
  // (MikroORM refuses 'connection' for it), and its "round trips" are function calls.
  return MikroORM.init({ ...shared, driver: PgliteDriver, dbName: opts.pgliteDir });
}

/** The read replicas' routing of this ORM, when it has replicas. */
export function replicaSetOf(orm: Orm): ReplicaSet | undefined {
  return orm.driver instanceof KeelPostgreSqlDriver ? orm.driver.replicaRouting : undefined;
}

export function rootEm(orm: Orm): EntityManager {
  return orm.em as unknown as EntityManager;
}
