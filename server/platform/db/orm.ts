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
import type { Logger } from '../logger/logger.ts';
import { contextEm } from './context.ts';
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
}

/** MikroORM's logger, plus a tap that reports each executed statement's duration. */
class ObservingLogger extends DefaultLogger {
  constructor(
    options: LoggerOptions,
    private readonly onQuery: (sql: string, tookMs: number) => void,
  ) {
    super(options);
  }

  override logQuery(context: { query: string } & LogContext): void {
    if (context.took !== undefined && context.query) this.onQuery(context.query, context.took);
    super.logQuery(context);
  }
}

export type Orm = MikroORM;

export async function createOrm(opts: OrmOptions): Promise<Orm> {
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
    ...(opts.onQuery
      ? { loggerFactory: (options: LoggerOptions) => new ObservingLogger(options, opts.onQuery!) }
      : {}),
    ...(opts.logger ? { logger: (message: string) => opts.logger?.debug({ orm: true }, message) } : {}),
  };
  if (opts.databaseUrl) {
    const orm = await MikroORM.init({
      ...shared,
      driver: PostgreSqlDriver,
      clientUrl: opts.databaseUrl,
      pool: { min: 0, max: opts.poolMax },
      driverOptions: poolBounds(opts.statementTimeoutMs ?? 0),
      // The tenant scope rides on the pooled connection, switched only when it differs (tenant-scope.ts, ADR 0012),
      // instead of a begin/set_config/set local role/commit transaction around every tenant statement.
      sessionContext: 'connection',
    });
    const connection = orm.driver.getConnection();
    if (!(connection instanceof PostgreSqlConnection)) throw new Error('Expected a PostgreSQL connection');
    const logger = orm.config.getLogger();
    installScopeSwitch(connection, (query, took) => logger.logQuery({ query, took, level: 'info' }));
    return orm;
  }
  mkdirSync(opts.pgliteDir, { recursive: true });
  // PGlite stays on MikroORM's default 'transaction' strategy: it is one in-process session with no pool to hook
  // (MikroORM refuses 'connection' for it), and its "round trips" are function calls.
  return MikroORM.init({ ...shared, driver: PgliteDriver, dbName: opts.pgliteDir });
}

export function rootEm(orm: Orm): EntityManager {
  return orm.em as unknown as EntityManager;
}
