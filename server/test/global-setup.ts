import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { createOrm } from '../platform/db/orm.ts';
import { entities } from '../modules/entities.ts';
import { adminUrl, TEST_PG_URL } from './env.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

/** One database for the whole integration run, created and migrated here, dropped at the end. */
export default async function setup(project: TestProject) {
  const name = `keel_test_${Date.now()}_${randomBytes(3).toString('hex')}`;
  const databaseUrl = adminUrl(TEST_PG_URL, name);
  const orm = await createOrm({ databaseUrl, pgliteDir: '', entities, poolMax: 2 });
  await orm.schema.ensureDatabase({ create: true });
  await orm.migrator.up();
  await orm.close(true);
  project.provide('databaseUrl', databaseUrl);
  return async () => {
    const admin = await createOrm({
      databaseUrl: adminUrl(TEST_PG_URL, 'postgres'),
      pgliteDir: '',
      entities,
      poolMax: 1,
    });
    await admin.em
      .getConnection()
      .execute(`drop database if exists "${name}" with (force)`)
      .catch(() => undefined);
    await admin.close(true);
  };
}
