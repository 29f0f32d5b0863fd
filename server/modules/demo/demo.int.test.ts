import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrm } from '../../platform/db/orm.ts';
import { adminUrl, TEST_PG_URL } from '../../test/env.ts';
import { entities } from '../entities.ts';
import { withDbScope } from '../../platform/db/context.ts';
import { createLogger } from '../../platform/logger/logger.ts';
import { Worker } from '../../platform/queue/worker.ts';
import { until } from '../billing/testing/harness.ts';
import { callerAs } from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { User } from '../auth/user.entity.ts';
import { BillingSandbox } from '../billing/sandbox/sandbox.ts';
import { seedDemo } from './demo.content.ts';
import { seedLarge } from './demo.large.ts';
import { DEMO_LOGINS } from './demo.seed.ts';

// A database of its own: the run's shared database has global tables (feature flags, users by email) that other
// files write in parallel, and the seed's fixed slugs and emails exist only once per database. (In one full parallel
// run the Acme flag check found no `new-analytics` at all; alone it always passed. The cause was not found.)
let env: TestEnv;
let database: string | undefined;

beforeAll(async () => {
  database = `keel_demo_${Date.now()}_${randomBytes(3).toString('hex')}`;
  const databaseUrl = adminUrl(TEST_PG_URL, database);
  const orm = await createOrm({ databaseUrl, pgliteDir: '', entities, poolMax: 1 });
  await orm.schema.ensureDatabase({ create: true });
  await orm.migrator.up();
  await orm.close(true);
  const sandbox = await BillingSandbox.start({ logger: createLogger({ level: 'silent', pretty: false }) });
  env = await createTestEnv({ DATABASE_URL: databaseUrl }, { billingSandbox: sandbox });
}, 120_000);
afterAll(async () => {
  await env?.close();
  if (!database) return;
  const admin = await createOrm({
    databaseUrl: adminUrl(TEST_PG_URL, 'postgres'),
    pgliteDir: '',
    entities,
    poolMax: 1,
  });
  await admin.em.getConnection().execute(`drop database if exists "${database}" with (force)`);
  await admin.close(true);
});

const DEMO_TABLES = [
  'organizations',
  'users',
  'memberships',
  'documents',
  'records',
  'activity_log',
  'feature_flags',
  'feature_flag_overrides',
  'alert_events',
  'subscriptions',
  'stripe_events',
  'exports',
  'imports',
  'schedules',
];

async function counts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const demoOrgs = `(select id from organizations where slug in ('acme','globex','initech'))`;
  for (const table of DEMO_TABLES) {
    const where =
      table === 'organizations'
        ? `where id in ${demoOrgs}`
        : table === 'users'
          ? `where email like '%@acme.test' or email like '%@globex.test' or email like '%@initech.test'`
          : ['feature_flags', 'feature_flag_overrides', 'alert_events'].includes(table)
            ? ''
            : `where organization_id in ${demoOrgs}`;
    const rows = await withDbScope(env.deps.em, undefined, (em) =>
      em.getConnection().execute<{ n: string }[]>(`select count(*) as n from ${table} ${where}`),
    );
    out[table] = Number(rows[0]?.n ?? 0);
  }
  return out;
}

const asLogin = async (email: string) =>
  callerAs(
    env.deps,
    await withDbScope(env.deps.em, undefined, async (em) => {
      const u = await em.findOneOrFail(User, { email });
      return { id: u.id, email: u.email };
    }),
  );

describe('keel seed', () => {
  it('is idempotent: a second run adds nothing', async () => {
    await seedDemo(env.deps);
    const first = await counts();
    expect(first).toMatchObject({ organizations: 3, subscriptions: 3 });
    expect(first.users).toBeGreaterThanOrEqual(16);
    expect(first.records).toBeGreaterThanOrEqual(5_000);
    for (const table of DEMO_TABLES) expect(first[table], table).toBeGreaterThan(0);
    await seedDemo(env.deps);
    expect(await counts()).toEqual(first);
  });

  it('every demo login signs in to a non-empty page, and the console reads real data', async () => {
    for (const login of DEMO_LOGINS) {
      const caller = await asLogin(login.email);
      expect((await caller.auth.me()).user.email).toBe(login.email);
    }
    const owner = await asLogin('owner@acme.test');
    expect((await owner.documents.list({})).items.length).toBeGreaterThan(0);
    expect((await owner.activity.recent({})).length).toBeGreaterThan(0);
    expect((await owner.organization.members()).length).toBeGreaterThanOrEqual(14);
    expect((await owner.schedules.list()).items.map((x) => [x.job, x.schedule])).toEqual([
      ['exports.scheduled', 'weekly at 09:00 on Monday'],
    ]);
    expect((await owner.flags.evaluateAll())['new-analytics']).toMatchObject({ value: true });
    const billing = await owner.billing.overview();
    expect(billing).toMatchObject({
      sandbox: true,
      subscription: { plan: { name: 'Team' }, status: 'active' },
    });
    expect(billing.invoices.length).toBeGreaterThan(0);
    const initech = await (await asLogin('owner@initech.test')).billing.overview();
    expect(initech.subscription).toMatchObject({ plan: { name: 'Starter' }, status: 'trialing' });

    const ops = await asLogin('ops@keel.test');
    expect((await ops.ops.tenants.list({})).items.length).toBeGreaterThanOrEqual(3);
    expect(await ops.ops.flags.list()).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ key: 'new-analytics', rolloutPercentage: 25 }),
        expect.objectContaining({ key: 'legacy-importer', killed: true }),
      ]),
    );
    expect((await ops.ops.flags.audit({})).items.length).toBeGreaterThan(0);
    expect((await ops.ops.billing.events.list({})).items.length).toBeGreaterThan(0);
    expect((await ops.ops.billing.subscriptions.list({})).items.length).toBeGreaterThanOrEqual(3);
    const alerts = await ops.ops.alerts.history({});
    expect(alerts.items.map((a) => a.kind)).toEqual(expect.arrayContaining(['fire', 'resolve']));

    // The seed's export, import and batch are real jobs: a worker (keel dev runs one) finishes them.
    const worker = new Worker(env.deps.queue, {
      queues: ['high', 'default', 'low', 'mail', 'webhooks'],
      concurrency: 4,
      leader: false,
    });
    await worker.start();
    try {
      const finished = await until(async () => {
        const [exports, imports] = await Promise.all([ops.ops.files.exports({}), ops.ops.files.imports({})]);
        const done = (s: string) =>
          !['queued', 'running', 'uploading', 'validating', 'importing'].includes(s);
        return exports.items.some((e) => e.status === 'completed') &&
          imports.items.length >= 3 &&
          imports.items.every((i) => done(i.status))
          ? { exports, imports }
          : null;
      }, 'the seeded export and imports');
      expect(finished.imports.items.some((i) => i.errorCount > 0)).toBe(true);
      expect((await ops.ops.batches.list({})).items.length).toBeGreaterThan(0);
    } finally {
      await worker.stop(1_000);
    }
  });
});

describe('keel seed --size large', () => {
  const loadCounts = async () => {
    const rows = await withDbScope(env.deps.em, undefined, (em) =>
      em.getConnection().execute<{ orgs: string; users: string; members: string; owners: string }[]>(
        `select (select count(*) from organizations where slug like 'load-%') as orgs,
                (select count(*) from users where email like 'user-%@load.test') as users,
                (select count(*) from memberships m join users u on u.id = m.user_id
                   where u.email like 'user-%@load.test') as members,
                (select count(*) from memberships m join users u on u.id = m.user_id
                   where u.email like 'user-%@load.test' and m.role = 'owner') as owners`,
      ),
    );
    const r = rows[0]!;
    return {
      orgs: Number(r.orgs),
      users: Number(r.users),
      members: Number(r.members),
      owners: Number(r.owners),
    };
  };

  it('builds organizations × users with memberships in bulk, and a second run adds nothing', async () => {
    // The command's 100 × 100, scaled down for the suite; the statements are the same.
    const first = await seedLarge(env.deps, { organizations: 6, usersPerOrganization: 25 });
    expect(first).toMatchObject({ organizations: 6, users: 150, memberships: 150 });
    expect(await loadCounts()).toEqual({ orgs: 6, users: 150, members: 150, owners: 6 });
    const second = await seedLarge(env.deps, { organizations: 6, usersPerOrganization: 25 });
    expect(second).toMatchObject({ organizations: 0, users: 0, memberships: 0 });
    expect(await loadCounts()).toEqual({ orgs: 6, users: 150, members: 150, owners: 6 });
    // A load user signs in to their organization like any other.
    const owner = await asLogin('user-0003-0001@load.test');
    expect((await owner.organization.current()).slug).toBe('load-0003');
  });
});
