import { PostgreSqlConnection } from '@mikro-orm/postgresql';
import type { Pool, PoolClient } from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Document } from '../../modules/documents/document.entity.ts';
import { readDocumentPage, readVisibleDocument } from '../../modules/documents/documents.reads.ts';
import { findVisibleDocument } from '../../modules/documents/documents.service.ts';
import { entities } from '../../modules/entities.ts';
import { createOrg, type TestOrg } from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { withDbScope } from './context.ts';
import { createOrm, rootEm, type Orm } from './orm.ts';
import { MIKRO_ORM_RESERVE_HOOK_FACTORY } from './tenant-scope.ts';

// An ORM of its own with ONE pooled connection, so "the connection last used by tenant B" is a fact, not a guess,
// and no background work of the app's deps shares it. Every statement is counted where it leaves for the server:
// the pg client's query(), below MikroORM and Kysely (begin, commit and the scope switch included).
let env: TestEnv;
let orm: Orm;
let pool: Pool;
let a: TestOrg;
let b: TestOrg;
let docA: string;
let docB: string;
const sent: string[] = [];
const wrapped = new WeakSet<PoolClient>();

function countStatements(client: PoolClient): void {
  if (wrapped.has(client)) return;
  wrapped.add(client);
  const query = client.query.bind(client);
  // pg's query() has a dozen overloads; the wrapper records the SQL text and passes every argument through.
  client.query = ((...args: Parameters<typeof query>) => {
    const [first] = args;
    sent.push(typeof first === 'string' ? first : String((first as { text?: string }).text));
    return query(...args);
  }) as typeof client.query;
}

async function seedDocuments(org: TestOrg, n: number): Promise<string> {
  return withDbScope(env.deps.em, org.id, async (em) => {
    const docs = Array.from({ length: n }, (_, i) =>
      em.create(Document, {
        organization: org.id,
        owner: org.owner.id,
        title: `doc ${i}`,
        content: 'x',
        public: true,
        version: 1,
        updatedBy: org.owner.id,
      }),
    );
    await em.flush();
    return docs[0]!.id;
  });
}

/** Runs fn in a fresh scope (as a request or a job would) and returns what it sent to PostgreSQL. */
async function statementsOf<T>(orgId: string | undefined, fn: Parameters<typeof withDbScope<Promise<T>>>[2]) {
  sent.length = 0;
  const result = await withDbScope(rootEm(orm), orgId, fn);
  return { result, statements: [...sent] };
}

beforeAll(async () => {
  env = await createTestEnv();
  a = await createOrg(env.deps, 'Alpha scope');
  b = await createOrg(env.deps, 'Bravo scope');
  docA = await seedDocuments(a, 30);
  docB = await seedDocuments(b, 3);
  orm = await createOrm({ databaseUrl: inject('databaseUrl'), pgliteDir: '', entities, poolMax: 1 });
  const connection = orm.driver.getConnection();
  if (!(connection instanceof PostgreSqlConnection)) throw new Error('expected PostgreSQL');
  pool = await connection.getNativeClient();
  pool.on('acquire', countStatements);
});
afterAll(async () => {
  await orm.close();
  await env.close();
});

const rawRows = (sql: string) => withDbScope(rootEm(orm), undefined, (em) => em.getConnection().execute(sql));

describe('tenant scope per connection', () => {
  it('MikroORM still builds its reserve hook through the method Keel replaces (contract, ADR 0012)', async () => {
    const factory: unknown = Reflect.get(PostgreSqlConnection.prototype, MIKRO_ORM_RESERVE_HOOK_FACTORY);
    expect(typeof factory).toBe('function');
    // Were MikroORM to build the hook elsewhere, its own would run: `reset all`, set_config, `set role` each time.
    const first = await statementsOf(b.id, (em) => em.findOne(Document, docB));
    const again = await statementsOf(b.id, (em) => em.findOne(Document, docB));
    expect([...first.statements, ...again.statements].some((s) => /reset all|set role/i.test(s))).toBe(false);
    expect(again.statements).toHaveLength(1);
  });

  it('a read by id and a page list cost one statement each when the connection already carries the tenant', async () => {
    await statementsOf(a.id, (em) => em.findOne(Document, docA));
    const get = await statementsOf(a.id, (em) => findVisibleDocument(em, a.owner.id, docA));
    expect(get.result.id).toBe(docA);
    expect(get.statements).toHaveLength(1);
    expect(get.statements[0]).toMatch(/^select .* from "documents"/);
    // documents.get and documents.list read plain SQL (documents.reads.ts): one statement each too.
    const plain = await statementsOf(a.id, (em) =>
      readVisibleDocument(em, { organizationId: a.id, userId: a.owner.id }, docA),
    );
    expect(plain.result.id).toBe(docA);
    expect(plain.statements).toHaveLength(1);
    expect(plain.statements[0]).toMatch(/^select [\s\S]* from documents d /);
    const list = await statementsOf(a.id, (em) =>
      readDocumentPage(em, { organizationId: a.id, userId: a.owner.id }, { limit: 25 }),
    );
    expect(list.result.items).toHaveLength(25);
    expect(list.statements).toHaveLength(1);
    expect(sent.some((s) => /reset all/i.test(s))).toBe(false);
  });

  it('switching the connection to another tenant costs exactly one statement more', async () => {
    await statementsOf(a.id, (em) => em.findOne(Document, docA));
    const get = await statementsOf(b.id, (em) => findVisibleDocument(em, b.owner.id, docB));
    expect(get.result.id).toBe(docB);
    expect(get.statements).toHaveLength(2);
    expect(get.statements[0]).toMatch(
      /^select set_config\(\$1, \$2, false\), set_config\(\$3, \$4, false\)$/,
    );
    const back = await statementsOf(undefined, (em) => em.getConnection().execute('select 1'));
    expect(back.statements).toHaveLength(2);
  });

  it('raw SQL in tenant A on a connection last used by tenant B sees only A; a non-tenant scope is the owner again', async () => {
    await statementsOf(b.id, (em) => em.findOne(Document, docB));
    const raw = await statementsOf(a.id, (em) =>
      em.getConnection().execute<{ organization_id: string }[]>('select organization_id from documents'),
    );
    expect(raw.result.length).toBeGreaterThanOrEqual(30);
    expect(raw.result.every((r) => r.organization_id === a.id)).toBe(true);
    const role = await statementsOf(a.id, (em) =>
      em.getConnection().execute<{ who: string }[]>('select current_user as who'),
    );
    expect(role.result[0]?.who).toBe('keel_app');

    const owner = await rawRows(
      "select current_user = session_user as owner, current_setting('mikro.tenant.organizationId', true) as tenant, " +
        'count(distinct organization_id)::int as orgs from documents',
    );
    expect(owner[0]).toMatchObject({ owner: true, tenant: '' });
    expect(Number(owner[0]?.orgs)).toBeGreaterThanOrEqual(2);
  });

  it('the switch happens before begin, so a transaction that rolls back cannot undo it', async () => {
    await statementsOf(b.id, (em) => em.findOne(Document, docB));
    const failed = await statementsOf(a.id, (em) =>
      em
        .transactional(async (tx) => {
          await tx.getConnection().execute('select 1', [], 'all', tx.getTransactionContext());
          throw new Error('roll back');
        })
        .catch((e: unknown) => e),
    );
    expect(failed.result).toBeInstanceOf(Error);
    expect(failed.statements.map((s) => s.split(' ')[0])).toEqual(['select', 'begin', 'select', 'rollback']);
    expect(failed.statements[0]).toMatch(/set_config/);
    // Still A's scope after the rollback: no switch needed, and the session says so.
    const after = await statementsOf(a.id, (em) =>
      em
        .getConnection()
        .execute<{ who: string; tenant: string }[]>(
          "select current_user as who, current_setting('mikro.tenant.organizationId') as tenant",
        ),
    );
    expect(after.statements).toHaveLength(1);
    expect(after.result[0]).toEqual({ who: 'keel_app', tenant: a.id });
  });

  it('a connection the server drops is replaced by one that is switched before its first tenant statement', async () => {
    await statementsOf(a.id, (em) => em.findOne(Document, docA));
    const [{ pid } = { pid: 0 }] = await statementsOf(a.id, (em) =>
      em.getConnection().execute<{ pid: number }[]>('select pg_backend_pid() as pid'),
    ).then((r) => r.result);
    await withDbScope(env.deps.em, undefined, (em) =>
      em.getConnection().execute('select pg_terminate_backend(?)', [pid]),
    );
    // The pool discards the idle client when its socket closes; the next reservation opens a new one.
    await expect.poll(() => pool.totalCount).toBe(0);
    const raw = await statementsOf(b.id, (em) =>
      em
        .getConnection()
        .execute<{ organization_id: string; who: string }[]>(
          'select organization_id, current_user as who from documents',
        ),
    );
    expect(raw.statements).toHaveLength(2);
    expect(raw.result.length).toBeGreaterThan(0);
    expect(raw.result.every((r) => r.organization_id === b.id && r.who === 'keel_app')).toBe(true);
  });
});
