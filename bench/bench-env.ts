import { randomBytes } from 'node:crypto';
import { loadTestServices } from '../server/config/env.ts';
import { entities } from '../server/modules/entities.ts';
import { createOrm } from '../server/platform/db/orm.ts';
import { adminUrl } from '../server/test/env.ts';
import { deleteKeys } from '../server/test/harness.ts';

export interface BenchEnvironment {
  /** Environment variables for parseConfig: production mode on a migrated database of its own. */
  env: Record<string, string>;
  /** Drops the database and deletes every Redis key under the environment's prefix. */
  cleanup(): Promise<void>;
}

/** A freshly migrated PostgreSQL database and a Redis key prefix for one benchmark run. */
export async function createBenchEnvironment(label: string): Promise<BenchEnvironment> {
  const services = loadTestServices();
  const dbName = `keel_bench_${label}_${Date.now()}`;
  const prefix = `keel:bench:${label}:${randomBytes(3).toString('hex')}:`;
  const env = {
    NODE_ENV: 'production',
    DATABASE_URL: adminUrl(services.pgUrl, dbName),
    REDIS_URL: services.redisUrl,
    KEY_PREFIX: prefix,
    SESSION_SECRET: randomBytes(24).toString('hex'),
    LOG_LEVEL: 'silent',
  };
  const orm = await createOrm({ databaseUrl: env.DATABASE_URL, pgliteDir: '', entities, poolMax: 2 });
  await orm.schema.ensureDatabase({ create: true });
  await orm.migrator.up();
  await orm.close(true);
  return {
    env,
    async cleanup() {
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
    },
  };
}
