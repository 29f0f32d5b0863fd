import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDbScope } from '../../../platform/db/context.ts';
import { createLogger } from '../../../platform/logger/logger.ts';
import { startSmtpCapture, type SmtpCapture } from '../../../platform/mail/testing/smtp-capture.ts';
import { Worker } from '../../../platform/queue/worker.ts';
import { failureCode } from '../../../test/errors.ts';
import { addMember, callerAs, createOrg } from '../../../test/factories.ts';
import { createTestEnv, startServer, type RunningServer, type TestEnv } from '../../../test/harness.ts';
import { Organization } from '../../tenancy/organization.entity.ts';
import { BillingNotification, StripeEvent } from '../billing.entity.ts';
import { BillingSandbox, SANDBOX_PLANS } from './sandbox.ts';

// The sandbox as `keel dev` runs it: in process, reached through the Stripe SDK, its events delivered over HTTP to
// POST /webhooks/stripe with a Stripe signature and processed by a worker. No test helper delivers anything.
let sandbox: BillingSandbox;
let env: TestEnv;
let server: RunningServer;
let worker: Worker;
let smtp: SmtpCapture;

beforeAll(async () => {
  sandbox = await BillingSandbox.start({ logger: createLogger({ level: 'silent', pretty: false }) });
  smtp = await startSmtpCapture();
  env = await createTestEnv({ SMTP_URL: smtp.url }, { billingSandbox: sandbox });
  server = await startServer(env.deps);
  sandbox.deliverTo(server.url);
  worker = new Worker(env.deps.queue, { queues: ['webhooks', 'mail'], concurrency: 4, leader: false });
  await worker.start();
});
afterAll(async () => {
  await worker.stop(1_000);
  await server.close();
  await env.close(); // closes the sandbox with the deps
  await smtp.close();
});

const orgRow = (id: string) =>
  withDbScope(env.deps.em, undefined, (em) => em.findOneOrFail(Organization, id, { refresh: true }));

describe('billing sandbox', () => {
  it('subscribe → swap → cancel at period end → resume, each change applied through its signed webhooks', async () => {
    const org = await createOrg(env.deps, 'Sandbox Co');
    const owner = await callerAs(env.deps, org.owner);

    const empty = await owner.billing.overview();
    expect(empty).toMatchObject({ configured: true, sandbox: true, subscription: null, suspended: false });
    expect(empty.plans.map((p) => p.price)).toEqual(Object.keys(SANDBOX_PLANS));

    const subscribed = await owner.billing.subscribe({ price: 'price_starter' });
    // The sandbox gave the customer a working test card: a trial needs no SetupIntent to confirm.
    expect(subscribed).toMatchObject({ subscription: { status: 'trialing' }, clientSecret: null });
    const stripeId = subscribed.subscription.stripeId;

    // The mutation returned after its webhooks arrived (signed, over HTTP) and were processed.
    const events = await withDbScope(env.deps.em, undefined, (em) =>
      em.find(StripeEvent, { objectId: stripeId }, { orderBy: { receivedAt: 'asc' } }),
    );
    expect(events.map((e) => e.type)).toContain('customer.subscription.created');
    expect(events.every((e) => e.processedAt !== null && e.organization?.id === org.id)).toBe(true);

    const swapped = await owner.billing.swap({ price: 'price_team', prorate: true });
    expect(swapped).toMatchObject({ plan: { price: 'price_team', name: 'Team' }, status: 'trialing' });
    expect(sandbox.server.planChanges.at(-1)).toMatchObject({ from: 'price_starter', to: 'price_team' });

    const canceling = await owner.billing.cancel({ when: 'period_end' });
    expect(canceling).toMatchObject({ status: 'canceling', cancelAtPeriodEnd: true });
    expect((await owner.billing.overview()).entitlement).toMatchObject({
      allowed: true,
      reason: 'cancel_grace',
    });

    const resumed = await owner.billing.resume();
    expect(resumed).toMatchObject({
      status: 'trialing',
      cancelAtPeriodEnd: false,
      plan: { price: 'price_team' },
    });
    expect(sandbox.server.subscriptions.get(stripeId)).toMatchObject({ cancel_at_period_end: false });
  });

  it('failed payments walk the dunning emails to suspension, and a payment lifts it', async () => {
    const org = await createOrg(env.deps, 'Dunning Co');
    const owner = await callerAs(env.deps, org.owner);
    await owner.billing.subscribe({ price: 'price_team', trialDays: 0 });
    // Without a trial the first invoice is open (default_incomplete): the owner pays it with the sandbox's card.
    expect((await owner.billing.retryInvoice()).status).toBe('paid');
    expect((await owner.billing.overview()).subscription).toMatchObject({ status: 'active' });

    for (let attempt = 1; attempt <= 3; attempt++) {
      expect(await owner.billing.sandbox.failNextPayment()).toMatchObject({ attempt });
      const view = await owner.billing.overview();
      expect(view.subscription).toMatchObject({ status: 'past_due', failedPaymentAttempts: attempt });
      expect(view.entitlement).toMatchObject({ allowed: true, reason: 'past_due_grace' });
    }
    const mails = (await smtp.waitFor(3, 15_000)).filter((m) => m.to.includes(org.owner.email));
    expect(mails.map((m) => m.subject)).toEqual([
      expect.stringMatching(/^Payment for .* could not be charged/),
      expect.stringMatching(/^Payment for .* failed again/),
      expect.stringMatching(/^Final notice: payment for .* failed/),
    ]);

    await owner.billing.sandbox.failNextPayment();
    expect(await owner.billing.overview()).toMatchObject({
      suspended: true,
      subscription: { status: 'suspended' },
      entitlement: { allowed: false, reason: 'suspended' },
    });
    expect((await orgRow(org.id)).active).toBe(false);
    expect(await failureCode(owner.organization.current())).toBe('TENANT_SUSPENDED');

    expect((await owner.billing.retryInvoice()).status).toBe('paid');
    expect(await owner.billing.overview()).toMatchObject({
      suspended: false,
      subscription: { status: 'active', failedPaymentAttempts: 0 },
      entitlement: { allowed: true, reason: 'active' },
    });
    expect((await orgRow(org.id)).active).toBe(true);
    const notices = await withDbScope(env.deps.em, org.id, (em) =>
      em.find(BillingNotification, {}, { orderBy: { createdAt: 'asc', id: 'asc' } }),
    );
    expect(notices.map((n) => n.kind)).toEqual([
      'payment_failed_first',
      'payment_failed_second',
      'payment_failed_final',
      'suspended',
      'reactivated',
    ]);
  });

  it('failing a payment is for owners only, and only in the sandbox', async () => {
    const org = await createOrg(env.deps);
    const owner = await callerAs(env.deps, org.owner);
    expect(await failureCode(owner.billing.sandbox.failNextPayment())).toBe('NOT_FOUND'); // no subscription yet
    const { subscription } = await owner.billing.subscribe({ price: 'price_starter' });
    const member = await callerAs(env.deps, await addMember(env.deps, org.id, 'member'));
    expect(await failureCode(member.billing.sandbox.failNextPayment())).toBe('ABILITY_MISSING');
    const admin = await callerAs(env.deps, await addMember(env.deps, org.id, 'admin'));
    expect(await failureCode(admin.billing.sandbox.failNextPayment())).toBe('ABILITY_MISSING');
    expect(sandbox.server.subscriptions.get(subscription.stripeId)).toMatchObject({ status: 'trialing' });

    // A server billing with Stripe (or nothing) refuses it.
    const plain = await createTestEnv();
    try {
      const other = await createOrg(plain.deps);
      const caller = await callerAs(plain.deps, other.owner);
      expect(await failureCode(caller.billing.sandbox.failNextPayment())).toBe('NOT_FOUND');
      expect(plain.config.billing.sandbox).toBe(false);
    } finally {
      await plain.close();
    }
  });
});
