import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../config/env.ts';
import { createDeps, type AppDeps } from '../../deps.ts';
import { entities } from '../../modules/entities.ts';
import { createOrm } from '../../platform/db/orm.ts';
import { createLogger } from '../../platform/logger/logger.ts';
import { adminUrl, TEST_PG_URL, TEST_REDIS_URL } from '../env.ts';
import { deleteKeys } from '../harness.ts';

// What a fleet of Keel processes shares: a freshly migrated database and a Redis key prefix of their own (never
// another test's), one directory for files (as S3 would be), and deps in this process on the same database and
// prefix for the test's own setup (organizations, users, tokens) and inspection.

export interface FleetEnvironment {
  /** Environment variables every Keel process of the fleet gets. */
  env: Record<string, string>;
  deps: AppDeps;
  dir: string;
  close(): Promise<void>;
}

export async function createFleetEnvironment(
  label: string,
  overrides: Record<string, string> = {},
  /** A PostgreSQL and a Redis of the test's own (tests that stop them), instead of the shared ones. */
  services: { pgUrl: string; redisUrl: string } = { pgUrl: TEST_PG_URL, redisUrl: TEST_REDIS_URL },
): Promise<FleetEnvironment> {
  const id = `${Date.now()}_${randomBytes(3).toString('hex')}`;
  const dbName = `keel_${label}_${id}`;
  const prefix = `keel:${label}:${randomBytes(4).toString('hex')}:`;
  const dir = await mkdtemp(path.join(os.tmpdir(), `keel-${label}-`));
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    DATABASE_URL: adminUrl(services.pgUrl, dbName),
    REDIS_URL: services.redisUrl,
    KEY_PREFIX: prefix,
    APP_URL: 'http://localhost:3000',
    SESSION_SECRET: randomBytes(24).toString('hex'),
    // Behind HAProxy (one hop): the client's address is the entry HAProxy adds to X-Forwarded-For.
    TRUST_PROXY: '1',
    STORAGE_LOCAL_DIR: path.join(dir, 'storage'),
    MAIL_DIR: path.join(dir, 'mail'),
    DB_POOL_MAX: '4',
    ...overrides,
  };
  const orm = await createOrm({ databaseUrl: env.DATABASE_URL, pgliteDir: '', entities, poolMax: 2 });
  await orm.schema.ensureDatabase({ create: true });
  await orm.migrator.up();
  await orm.close(true);
  const config = parseConfig({ ...env, LOG_LEVEL: 'silent' });
  const deps = await createDeps(config, { logger: createLogger({ level: 'silent', pretty: false }) });
  return {
    env,
    deps,
    dir,
    async close() {
      await deps.close().catch(() => undefined);
      const admin = await createOrm({
        databaseUrl: adminUrl(services.pgUrl, 'postgres'),
        pgliteDir: '',
        entities,
        poolMax: 1,
      });
      await admin.em
        .getConnection()
        .execute(`drop database if exists "${dbName}" with (force)`)
        .catch(() => undefined);
      await admin.close(true);
      await deleteKeys(services.redisUrl, prefix);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
