import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { entities } from '../../modules/entities.ts';
import { adminUrl, TEST_PG_URL } from '../../test/env.ts';
import { createOrm, type Orm } from './orm.ts';

const name = `keel_migr_${randomBytes(4).toString('hex')}`;
let orm: Orm | undefined;

afterAll(async () => {
  await orm?.close(true);
  const admin = await createOrm({
    databaseUrl: adminUrl(TEST_PG_URL, 'postgres'),
    pgliteDir: '',
    entities,
    poolMax: 1,
  });
  await admin.em.getConnection().execute(`drop database if exists "${name}" with (force)`);
  await admin.close(true);
});

describe('committed migrations', () => {
  it('build exactly the schema the entities describe, and every one of them can be reverted', async () => {
    orm = await createOrm({ databaseUrl: adminUrl(TEST_PG_URL, name), pgliteDir: '', entities, poolMax: 2 });
    await orm.schema.ensureDatabase({ create: true });
    const applied = await orm.migrator.up();
    expect(applied.length).toBeGreaterThan(0);

    // Entities and migrations agree: nothing left for the schema generator to change.
    const drift = await orm.schema.getUpdateSchemaSQL({ wrap: false });
    expect(drift.trim()).toBe('');

    const reverted = await orm.migrator.down({ to: 0 });
    expect(reverted.length).toBe(applied.length);
    const tables = await orm.em
      .getConnection()
      .execute<{ n: string }[]>(
        `select count(*)::text as n from information_schema.tables where table_schema = 'public' and table_name <> 'keel_migrations'`,
      );
    expect(tables[0]?.n).toBe('0');

    expect((await orm.migrator.up()).length).toBe(applied.length);
  });
});
