/**
 * The server Playwright drives: a fresh PostgreSQL database and Redis key space per run, migrated and seeded with
 * the demo data, serving the built web app. Everything it created is dropped on SIGTERM/SIGINT.
 */
import { rm } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { buildApp, type KeelApp } from '../server/app.ts';
import { loadTestServices, parseConfig, type Config } from '../server/config/env.ts';
import { createDeps, type AppDeps } from '../server/deps.ts';
import { adminUrl } from '../server/test/env.ts';
import { LIFTED_LIMITS } from '../server/test/harness.ts';
import { hashPassword } from '../server/modules/auth/password.ts';
import { User } from '../server/modules/auth/user.entity.ts';
import { DEMO_PASSWORD, seedDemoLogins } from '../server/modules/demo/demo.seed.ts';
import { entities } from '../server/modules/entities.ts';
import { seedRecords } from '../server/modules/records/testing/seed.ts';
import { Membership } from '../server/modules/tenancy/membership.entity.ts';
import { Organization } from '../server/modules/tenancy/organization.entity.ts';
import { withDbScope, type Em } from '../server/platform/db/context.ts';
import { createOrm } from '../server/platform/db/orm.ts';
import { Worker } from '../server/platform/queue/worker.ts';
import { createLogger } from '../server/platform/logger/logger.ts';
import { BillingSandbox } from '../server/modules/billing/sandbox/sandbox.ts';
import { E2E_BASE_URL, E2E_MAIL_DIR, E2E_PORT, SWITCHER, TENANT_APP } from './fixtures.ts';
import { seedOpsConsole } from './ops-seed.ts';
import { seedRouteWalk } from './walk-seed.ts';

const services = loadTestServices();
const stamp = Date.now();
const database = `keel_e2e_${stamp}`;
const keyPrefix = `keel:e2e:${stamp}:`;

const parsed = parseConfig({
  NODE_ENV: 'test',
  HOST: '127.0.0.1',
  PORT: String(E2E_PORT),
  APP_URL: E2E_BASE_URL,
  DATABASE_URL: adminUrl(services.pgUrl, database),
  REDIS_URL: services.redisUrl,
  KEY_PREFIX: keyPrefix,
  SESSION_SECRET: `e2e-session-secret-${stamp}-0123456789abcdef`,
  WEB_DIST: 'dist/web',
  LOG_LEVEL: 'warn',
  LOG_PRETTY: 'false',
  DB_POOL_MAX: '4',
  // No SMTP_URL: mail goes to the outbox, where specs read it (registration's confirmation link).
  MAIL_DIR: E2E_MAIL_DIR,
  // Billing runs against Keel's billing sandbox, as `npm start` does without a Stripe key (e2e/billing-sandbox.spec).
  BILLING_SANDBOX: 'true',
});

let sandbox: BillingSandbox | undefined;
let config: Config;
let deps: AppDeps | undefined;
let app: KeelApp | undefined;
let worker: Worker | undefined;
/** Processes the sandbox's webhooks and sends mail (dunning emails), as `keel dev`'s in-process worker does. */
let billingWorker: Worker | undefined;
let stopping: Promise<void> | undefined;

function log(message: string): void {
  process.stdout.write(`[e2e server] ${message}\n`);
}

async function dropDatabase(): Promise<void> {
  const admin = await createOrm({
    databaseUrl: services.pgUrl,
    pgliteDir: '',
    entities,
    poolMax: 1,
  });
  try {
    await admin.em.getConnection().execute(`drop database if exists "${database}" with (force)`);
  } finally {
    await admin.close(true);
  }
}

async function deleteKeys(): Promise<void> {
  const redis = new Redis(services.redisUrl, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** The switcher user: a member of two organizations, currently in the first. */
async function seedSwitcher(rootEm: Em): Promise<void> {
  const passwordHash = await hashPassword(DEMO_PASSWORD);
  const { userId, orgIds } = await withDbScope(rootEm, undefined, async (em) => {
    const orgs = await em.find(
      Organization,
      { slug: { $in: SWITCHER.organizations } },
      { orderBy: { slug: 'asc' } },
    );
    const user = em.create(User, {
      email: SWITCHER.email,
      name: SWITCHER.name,
      passwordHash,
      currentOrganization: orgs[0]!.id,
    });
    await em.flush();
    return { userId: user.id, orgIds: orgs.map((o) => o.id) };
  });
  for (const organization of orgIds) {
    await withDbScope(rootEm, organization, async (em) => {
      em.create(Membership, { organization, user: userId, role: 'member' });
      await em.flush();
    });
  }
}

/**
 * People of Acme that the tenant app's members test changes, removes or lets leave (e2e/tenant-app.spec.ts), so
 * the demo logins other specs sign in with keep their roles. Only in end-to-end databases.
 */
const MEMBERS_SPEC_PEOPLE = [
  { email: 'casey@e2e.test', name: 'Casey Churn' },
  { email: 'lee@e2e.test', name: 'Lee Leaver' },
];

async function seedMembersSpecPeople(rootEm: Em): Promise<void> {
  const passwordHash = await hashPassword(DEMO_PASSWORD);
  const acme = await withDbScope(rootEm, undefined, (em) => em.findOneOrFail(Organization, { slug: 'acme' }));
  const userIds = await withDbScope(rootEm, undefined, async (em) => {
    const users = MEMBERS_SPEC_PEOPLE.map((p) =>
      em.create(User, { ...p, passwordHash, currentOrganization: acme.id }),
    );
    await em.flush();
    return users.map((u) => u.id);
  });
  await withDbScope(rootEm, acme.id, async (em) => {
    for (const user of userIds) em.create(Membership, { organization: acme.id, user, role: 'member' });
    await em.flush();
  });
}

/**
 * The tenant app spec's data. The dashboard's "new analytics" panel is behind this flag: off by default, on for Acme by override, so
 * the spec sees it in Acme and not in Globex.
 */
async function seedAnalyticsFlag(d: AppDeps): Promise<void> {
  const staff = await withDbScope(d.em, undefined, (em) => em.findOneOrFail(User, { staff: true }));
  const actor = { id: staff.id, email: staff.email };
  await d.flags.create(actor, {
    key: 'new-analytics',
    description: 'The recharts analytics panel on the tenant dashboard',
    kind: 'boolean',
    enabled: false,
    rolloutPercentage: 0,
    owner: 'tenant-app',
    expectedRemovalAt: null,
  });
  const acme = await withDbScope(d.em, undefined, (em) => em.findOneOrFail(Organization, { slug: 'acme' }));
  await d.flags.setOverride(actor, { key: 'new-analytics', organizationId: acme.id, variant: 'on' });
  // Records for the tenant app's export: statuses cycle pending, active, completed, cancelled from the 2nd row.
  await seedRecords(d, acme.id, null, TENANT_APP.acmeRecords);
}

/** Each step runs even if an earlier one failed, so a half-started server still leaves nothing behind. */
function stop(reason: string): Promise<void> {
  stopping ??= (async () => {
    log(`stopping (${reason}): dropping ${database} and ${keyPrefix}*`);
    const steps: [string, () => Promise<unknown>][] = [
      ['stop worker', async () => worker?.stop()],
      ['stop billing worker', async () => billingWorker?.stop()],
      ['close server', async () => app?.close()],
      ['close connections', async () => deps?.close()],
      ['drop database', dropDatabase],
      ['delete redis keys', deleteKeys],
      ['delete mail', () => rm(E2E_MAIL_DIR, { recursive: true, force: true })],
    ];
    for (const [name, step] of steps) {
      await step().catch((err: unknown) => log(`${name} failed: ${String(err)}`));
    }
  })();
  return stopping;
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    void stop(signal).then(() => process.exit(0));
  });
}

try {
  // Every spec signs in from 127.0.0.1 within a minute or two: lift the per-IP sign-in limits and the per-user API
  // limit for this server (the limits themselves are tested in server/platform/rate-limit).
  await rm(E2E_MAIL_DIR, { recursive: true, force: true });
  sandbox = await BillingSandbox.start({ logger: createLogger({ level: parsed.logLevel, pretty: false }) });
  config = sandbox.configure(parsed);
  deps = await createDeps(config, { rateLimitPolicies: LIFTED_LIMITS, billingSandbox: sandbox });
  await deps.orm.schema.ensureDatabase({ create: true });
  await deps.orm.migrator.up();
  await seedDemoLogins(deps.em);
  await seedSwitcher(deps.em);
  await seedMembersSpecPeople(deps.em);
  worker = await seedOpsConsole(deps);
  await seedAnalyticsFlag(deps);
  await seedRouteWalk(deps);
  billingWorker = new Worker(deps.queue, { queues: ['webhooks', 'mail'], concurrency: 2, leader: false });
  await billingWorker.start();
  app = await buildApp(deps);
  await app.listen({ port: config.port, host: config.host });
  sandbox.deliverTo(E2E_BASE_URL);
  log(`listening at ${E2E_BASE_URL} (database ${database}, redis prefix ${keyPrefix})`);
} catch (err) {
  log(`failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  await stop('start-up failure');
  process.exit(1);
}
