import type { AppDeps } from '../../app-deps.ts';
import { withDbScope, type Em } from '../../platform/db/context.ts';
import { recordActivity } from '../activity/activity.service.ts';
import { AlertEvent } from '../alerts/alert-event.entity.ts';
import { hashPassword } from '../auth/password.ts';
import { User } from '../auth/user.entity.ts';
import { Subscription } from '../billing/billing.entity.ts';
import { processStripeEvent, storeVerifiedEvent } from '../billing/billing.events.ts';
import { retryInvoice, subscribe, type BillingContext } from '../billing/billing.service.ts';
import StripeSdk from 'stripe';
import { SANDBOX_WEBHOOK_SECRET } from '../billing/sandbox/sandbox.ts';
import { stripeClientFor, verifyWebhook } from '../billing/stripe.ts';
import { Document } from '../documents/document.entity.ts';
import { createDocument, updateDocument } from '../documents/documents.service.ts';
import { exportFilters } from '../../../shared/schemas/exports.ts';
import { requestExport } from '../exports/exports.service.ts';
import { DataImport } from '../imports/import.entity.ts';
import { createSchedule } from '../schedules/schedules.service.ts';
import { createUpload, startBatch, startImport } from '../imports/imports.service.ts';
import { Membership } from '../tenancy/membership.entity.ts';
import { Organization } from '../tenancy/organization.entity.ts';
import { DEMO_PASSWORD, seedDemoLogins } from './demo.seed.ts';

/**
 * The full demo `keel seed` builds (and `keel dev` on first run): three organizations on different plans (in the
 * billing sandbox), an admin and a dozen members in Acme, documents with version history, thousands of records,
 * feature flags (the dashboard analytics flag with an override and a rollout, a kill-switched flag), an alert that
 * fired and resolved, Stripe webhook events and activity. Every part checks whether it is there already, so running
 * it again adds nothing.
 */

const ACME_PEOPLE: { email: string; name: string; role: 'admin' | 'member' }[] = [
  { email: 'admin@acme.test', name: 'Ada Admin', role: 'admin' },
  ...[
    'Ben Baker',
    'Cleo Chen',
    'Dev Desai',
    'Eve Evans',
    'Finn Fischer',
    'Gia Greco',
    'Hugo Hall',
    'Iris Ito',
    'Jon Jansen',
    'Kai Kowalski',
    'Lena Lopez',
    'Milo Moreau',
  ].map((name) => ({
    email: `${name.split(' ')[0]!.toLowerCase()}@acme.test`,
    name,
    role: 'member' as const,
  })),
];

const INITECH = {
  name: 'Initech',
  slug: 'initech',
  owner: { email: 'owner@initech.test', name: 'Ivan Initech' },
};

/** Which sandbox plan each organization is on (prices of modules/billing/sandbox SANDBOX_PLANS). */
const PLANS: { slug: string; price: string; trial: boolean }[] = [
  { slug: 'acme', price: 'price_team', trial: false },
  { slug: 'globex', price: 'price_enterprise', trial: false },
  { slug: 'initech', price: 'price_starter', trial: true },
];

const RECORDS: Record<string, number> = { acme: 4_000, globex: 1_500, initech: 300 };

const DOCUMENTS = [
  {
    title: 'Q3 launch plan',
    versions: [
      'Goals: ship the new dashboard.',
      'Goals: ship the new dashboard and the export API.',
      'Goals: ship the new dashboard and the export API.\nOwners: Olivia (dashboard), Ada (API).',
    ],
  },
  {
    title: 'Onboarding checklist',
    versions: ['1. Sign in\n2. Invite your team', '1. Sign in\n2. Invite your team\n3. Import your records'],
  },
  { title: 'Pricing notes', versions: ['Team plan: 49 USD a month.'] },
];

export async function seedDemo(deps: AppDeps): Promise<{ created: boolean }> {
  const started = Date.now();
  const { created } = await seedDemoLogins(deps.em);
  // Hashed only if someone is missing: `keel dev` runs the seed on every start, and argon2 is deliberately slow.
  let hashed: Promise<string> | undefined;
  const passwordHash = () => (hashed ??= hashPassword(DEMO_PASSWORD));
  const orgs = await withDbScope(deps.em, undefined, async (em) => {
    if (!(await em.count(Organization, { slug: INITECH.slug }))) {
      em.create(Organization, {
        name: INITECH.name,
        slug: INITECH.slug,
        billingEmail: INITECH.owner.email,
        settings: {},
      });
      await em.flush();
    }
    const all = await em.find(Organization, { slug: { $in: ['acme', 'globex', 'initech'] } });
    return new Map(all.map((o) => [o.slug, o.id]));
  });
  const acme = orgs.get('acme')!;
  await ensurePeople(deps.em, acme, ACME_PEOPLE, passwordHash);
  await ensurePeople(deps.em, orgs.get('initech')!, [{ ...INITECH.owner, role: 'owner' }], passwordHash);

  for (const [slug, organizationId] of orgs) {
    await seedDocuments(deps, organizationId);
    await seedRecords(deps.em, organizationId, RECORDS[slug] ?? 0);
  }
  await seedFlags(deps, acme);
  await seedAlert(deps.em);
  await seedBilling(deps, orgs);
  await seedDataJobs(deps, acme, orgs.get('globex')!);
  deps.logger.info({ ms: Date.now() - started }, 'demo seeded');
  return { created };
}

async function ensurePeople(
  rootEm: Em,
  organizationId: string,
  people: { email: string; name: string; role: 'owner' | 'admin' | 'member' }[],
  passwordHash: () => Promise<string>,
): Promise<void> {
  const ids = await withDbScope(rootEm, undefined, async (em) => {
    const existing = await em.find(User, { email: { $in: people.map((p) => p.email) } });
    const byEmail = new Map(existing.map((u) => [u.email, u.id]));
    for (const p of people) {
      if (byEmail.has(p.email)) continue;
      const u = em.create(User, {
        email: p.email,
        name: p.name,
        passwordHash: await passwordHash(),
        currentOrganization: organizationId,
      });
      byEmail.set(p.email, u.id);
    }
    await em.flush();
    return byEmail;
  });
  await withDbScope(rootEm, organizationId, async (em) => {
    const members = await em.find(Membership, { user: { $in: [...ids.values()] } });
    const present = new Set(members.map((m) => m.user.id));
    for (const p of people) {
      const userId = ids.get(p.email)!;
      if (present.has(userId)) continue;
      em.create(Membership, { organization: organizationId, user: userId, role: p.role });
      recordActivity(em, { organizationId, userId, action: 'member.joined', metadata: { role: p.role } });
    }
    await em.flush();
  });
}

/** Documents written and revised by the organization's people, through the documents service. */
async function seedDocuments(deps: AppDeps, organizationId: string): Promise<void> {
  const events = { log: deps.realtime.log, logger: deps.logger };
  await withDbScope(deps.em, organizationId, async (em) => {
    if (await em.count(Document, {})) return;
    const people = await em.find(Membership, {}, { populate: ['user'], orderBy: { createdAt: 'asc' } });
    const authors = people.map((m) => ({ id: m.user.id, name: m.user.name }));
    if (!authors.length) return;
    for (const [i, d] of DOCUMENTS.entries()) {
      const author = authors[i % authors.length]!;
      const actor = { userId: author.id, name: author.name };
      let doc = await createDocument(em, events, organizationId, actor, {
        title: d.title,
        content: d.versions[0]!,
        public: true,
      });
      for (const [v, content] of d.versions.slice(1).entries()) {
        const editor = authors[(i + v + 1) % authors.length]!;
        doc = await updateDocument(
          em,
          events,
          organizationId,
          { userId: editor.id, name: editor.name },
          { id: doc.id, baseVersion: doc.version, content },
        );
      }
    }
  });
}

/** Thousands of business records in one INSERT … SELECT (as the schema owner, like a migration). */
async function seedRecords(rootEm: Em, organizationId: string, count: number): Promise<void> {
  if (!count) return;
  await withDbScope(rootEm, undefined, async (em) => {
    const rows = await em
      .getConnection()
      .execute<{ n: string }[]>('select count(*) as n from records where organization_id = ?', [
        organizationId,
      ]);
    if (Number(rows[0]?.n ?? 0) > 0) return;
    await em.getConnection().execute(
      `insert into records (id, organization_id, user_id, category, status, amount, created_at)
       select gen_random_uuid(), ?, null,
              (array['hardware','software','services','travel','training','support'])[1 + i % 6],
              (array['pending','active','completed','cancelled'])[1 + i % 4],
              ((i * 7919) % 500000 / 100.0)::numeric(14,2),
              now() - make_interval(mins => i * 13)
       from generate_series(1, ?) as s(i)`,
      [organizationId, count],
    );
  });
}

/** The dashboard analytics flag (a 25 % rollout, on for Acme by override) and a kill-switched flag. */
async function seedFlags(deps: AppDeps, acme: string): Promise<void> {
  const staff = await withDbScope(deps.em, undefined, (em) => em.findOneOrFail(User, { staff: true }));
  const actor = { id: staff.id, email: staff.email };
  const keys = new Set((await deps.flags.list()).map((f) => f.key));
  if (!keys.has('new-analytics')) {
    await deps.flags.create(actor, {
      key: 'new-analytics',
      description: 'The recharts analytics panel on the tenant dashboard',
      kind: 'boolean',
      enabled: false,
      rolloutPercentage: 25,
      owner: 'tenant-app',
      expectedRemovalAt: new Date(Date.now() + 60 * 86_400_000),
    });
    await deps.flags.setOverride(actor, { key: 'new-analytics', organizationId: acme, variant: 'on' });
  }
  if (!keys.has('legacy-importer')) {
    await deps.flags.create(actor, {
      key: 'legacy-importer',
      description: 'The old CSV importer, switched off after it corrupted dates',
      kind: 'boolean',
      enabled: true,
      rolloutPercentage: 100,
      owner: 'data',
      expectedRemovalAt: null,
    });
    await deps.flags.kill(actor, 'legacy-importer', true);
  }
}

/** An alert that fired and resolved an hour later, in the console's history. */
async function seedAlert(rootEm: Em): Promise<void> {
  await withDbScope(rootEm, undefined, async (em) => {
    if (await em.count(AlertEvent, { ruleId: 'http-p95' })) return;
    const at = Date.now() - 3 * 3_600_000;
    em.create(AlertEvent, {
      ruleId: 'http-p95',
      kind: 'fire',
      severity: 'warning',
      value: 812,
      summary: 'p95 latency of HTTP requests is 812 ms (threshold 500 ms)',
      delivered: ['log'],
      failed: [],
      at: new Date(at),
    });
    em.create(AlertEvent, {
      ruleId: 'http-p95',
      kind: 'resolve',
      severity: null,
      value: 140,
      summary: 'p95 latency of HTTP requests is back to 140 ms',
      delivered: ['log'],
      failed: [],
      at: new Date(at + 3_600_000),
    });
    await em.flush();
  });
}

/**
 * Each organization on its plan, in the billing sandbox only (never against a real Stripe account): subscribed and
 * paid through the billing service, and the events the sandbox sent stored and processed as the webhook route and
 * its job would (the sandbox delivers them again when the server listens; they are duplicates then).
 */
async function seedBilling(deps: AppDeps, orgs: Map<string, string>): Promise<void> {
  const sandbox = deps.billingSandbox;
  const stripe = stripeClientFor(deps.config);
  if (!sandbox || !stripe) return;
  const from = sandbox.server.events.length;
  for (const plan of PLANS) {
    const organizationId = orgs.get(plan.slug);
    if (!organizationId) continue;
    await withDbScope(deps.em, organizationId, async (em) => {
      if (await em.count(Subscription, {})) return;
      const ctx: BillingContext = { em, config: deps.config, stripe, organizationId, sandbox: true };
      await subscribe(ctx, { price: plan.price, quantity: 1, trialDays: plan.trial ? 14 : 0 });
      if (!plan.trial) await retryInvoice(ctx);
    });
  }
  const billingDeps = { em: deps.em, config: deps.config, logger: deps.logger, stripe };
  for (const event of sandbox.server.events.slice(from)) {
    // Signed and verified as the webhook route does, so what is stored is exactly what it would store.
    const payload = JSON.stringify(event);
    const signature = StripeSdk.webhooks.generateTestHeaderString({
      payload,
      secret: SANDBOX_WEBHOOK_SECRET,
    });
    const stripeEvent = verifyWebhook(Buffer.from(payload), signature, SANDBOX_WEBHOOK_SECRET);
    await withDbScope(deps.em, undefined, (em) => storeVerifiedEvent(em, stripeEvent));
    await processStripeEvent(billingDeps, stripeEvent.id);
  }
}

const IMPORT_HEADER = 'Email,Category,Status,Amount,Created At\n';

/**
 * Real jobs on the queues, through the export and import services: an export of Acme's records, an Acme import with
 * three bad rows (its report lists them), and a batch of two Globex files, one of them bad. The worker `keel dev`
 * runs (or any `keel work`) runs them, which fills the job history, the batch list, the finished export and the
 * import report, and queues the import emails in the mail-request shape (template + ids).
 */
async function seedDataJobs(deps: AppDeps, acme: string, globex: string): Promise<void> {
  const owners = await withDbScope(deps.em, undefined, async (em) => {
    const users = await em.find(User, { email: { $in: ['owner@acme.test', 'owner@globex.test'] } });
    return new Map(users.map((u) => [u.email, u.id]));
  });
  const upload = async (em: Em, organizationId: string, userId: string, filename: string, csv: string) => {
    const { row } = await createUpload(deps, em, {
      organizationId,
      userId,
      filename,
      size: Buffer.byteLength(csv),
    });
    await deps.storage.put(row.fileKey, csv);
    return row.id;
  };
  await withDbScope(deps.em, acme, async (em) => {
    if (await em.count(DataImport, {})) return;
    const owner = owners.get('owner@acme.test')!;
    const org = await em.findOneOrFail(Organization, acme);
    await requestExport(deps, em, {
      organization: { id: acme, tier: org.tier },
      userId: owner,
      filters: exportFilters.parse({}),
    });
    // A tenant schedule (ADR 0023): the last week's records exported every Monday morning in Acme's time zone.
    await createSchedule(em, {
      organization: { id: acme, tier: org.tier },
      userId: owner,
      schedule: {
        job: 'exports.scheduled',
        schedule: 'weekly at 09:00 on Monday',
        payload: { lastDays: 7 },
        paused: false,
      },
    });
    const rows = [
      'owner@acme.test,hardware,active,120.00,',
      'owner@acme.test,software,active,12.345,', // line 3: more than 2 decimals
      'member@acme.test,services,archived,80.00,', // line 4: not a status
      'nobody@example.test,travel,active,40.00,', // line 5: not a member
      'admin@acme.test,training,completed,60.00,',
    ];
    const id = await upload(em, acme, owner, 'q3-expenses.csv', IMPORT_HEADER + rows.join('\n') + '\n');
    await startImport(deps, em, id);
  });
  await withDbScope(deps.em, globex, async (em) => {
    if (await em.count(DataImport, {})) return;
    const owner = owners.get('owner@globex.test')!;
    const good = ['owner@globex.test,hardware,active,10.00,', 'owner@globex.test,software,pending,20.00,'];
    const ids = [
      await upload(em, globex, owner, 'january.csv', IMPORT_HEADER + good.join('\n') + '\n'),
      await upload(em, globex, owner, 'february.csv', IMPORT_HEADER + 'owner@globex.test,,active,abc,\n'),
    ];
    await startBatch(deps, em, ids);
  });
}
