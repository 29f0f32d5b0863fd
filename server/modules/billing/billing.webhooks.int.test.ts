import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDbScope } from '../../platform/db/context.ts';
import { callerAs, createOrg, createStaff, type TestOrg } from '../../test/factories.ts';
import { OpsAudit } from '../ops/ops-audit.entity.ts';
import { Organization } from '../tenancy/organization.entity.ts';
import { BillingNotification, StripeEvent, Subscription } from './billing.entity.ts';
import { processStripeEvent, storeVerifiedEvent } from './billing.events.ts';
import { registerStripeWebhookRoute } from './billing.webhook.ts';
import { createStripeClient, type Stripe } from './stripe.ts';
import {
  createBillingTestEnv,
  deliver,
  deliverAndProcess,
  storedEvent,
  until,
  WEBHOOK_SECRET,
  type BillingTestEnv,
} from './testing/harness.ts';
import { failureCode } from '../../test/errors.ts';

let t: BillingTestEnv;

beforeAll(async () => {
  t = await createBillingTestEnv();
});
afterAll(() => t.close());

const count = (where: Record<string, unknown> = {}) =>
  withDbScope(t.deps.em, undefined, (em) => em.count(StripeEvent, where));

/** An organization on a trial subscription, with the Stripe events of its creation already processed. */
async function subscribedOrg(opts: { trialDays?: number } = {}) {
  const org = await createOrg(t.deps);
  const caller = await callerAs(t.deps, org.owner);
  const before = t.stripe.events.length;
  const { subscription } = await caller.billing.subscribe({ price: 'price_basic', ...opts });
  return { org, caller, stripeId: subscription.stripeId, newEvents: () => t.stripe.events.slice(before) };
}

const mirror = (org: TestOrg, stripeId: string) =>
  withDbScope(t.deps.em, org.id, (em) => em.findOneOrFail(Subscription, { stripeId }));

describe('verification', () => {
  it('a valid event is acknowledged at once, stored, and processed once', async () => {
    const { org, stripeId } = await subscribedOrg();
    const event = t.stripe.eventsOf('customer.subscription.created', stripeId)[0]!;
    const res = await deliver(t.server.url, event);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ received: true, duplicate: false });
    const stored = await until(async () => {
      const e = await storedEvent(t.deps, event.id);
      return e?.processedAt ? e : null;
    }, 'processing');
    expect(stored).toMatchObject({
      type: 'customer.subscription.created',
      objectId: stripeId,
      attempts: 1,
      lastError: null,
    });
    expect(stored.organization?.id).toBe(org.id);

    // Delivered again after processing: acknowledged as a duplicate, not processed again.
    const again = await deliver(t.server.url, event);
    expect(await again.json()).toEqual({ received: true, duplicate: true });
    expect((await storedEvent(t.deps, event.id))!.attempts).toBe(1);
  });

  it('the same event delivered 5 times concurrently is stored and processed once', async () => {
    const { stripeId } = await subscribedOrg();
    const event = t.stripe.eventsOf('customer.subscription.created', stripeId)[0]!;
    const responses = await Promise.all(Array.from({ length: 5 }, () => deliver(t.server.url, event)));
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    const bodies = (await Promise.all(responses.map((r) => r.json()))) as { duplicate: boolean }[];
    expect(bodies.filter((b) => !b.duplicate)).toHaveLength(1);
    await until(async () => (await storedEvent(t.deps, event.id))?.processedAt, 'processing');
    // Let any extra job that slipped through run, then check it did nothing.
    await until(async () => {
      const q = (await t.deps.queue.counts()).find((c) => c.queue === 'webhooks')!;
      return q.waiting + q.active + q.delayed === 0;
    }, 'an idle webhooks queue');
    expect(await count({ id: event.id })).toBe(1);
    expect((await storedEvent(t.deps, event.id))!.attempts).toBe(1);
  });

  it('a forged signature is refused with 400 and nothing is stored', async () => {
    const event = {
      id: 'evt_forged_1',
      object: 'event',
      type: 'invoice.paid',
      created: Math.floor(Date.now() / 1000),
      data: { object: { id: 'in_x', customer: 'cus_x' } },
    };
    const wrongSecret = await deliver(t.server.url, event, { secret: 'whsec_someoneelse' });
    expect(wrongSecret.status).toBe(400);
    const garbage = await deliver(t.server.url, event, { signature: 't=1,v1=deadbeef' });
    expect(garbage.status).toBe(400);
    const unsigned = await fetch(`${t.server.url}/webhooks/stripe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(event),
    });
    expect(unsigned.status).toBe(400);
    // A body changed after signing (here: re-serialised with other whitespace) fails too: the raw bytes are checked.
    const payload = JSON.stringify(event);
    const header = (await import('stripe')).default.webhooks.generateTestHeaderString({
      payload,
      secret: WEBHOOK_SECRET,
    });
    const tampered = await fetch(`${t.server.url}/webhooks/stripe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': header },
      body: JSON.stringify(event, null, 2),
    });
    expect(tampered.status).toBe(400);
    expect(await count({ id: event.id })).toBe(0);
  });

  it('a signature older than the 300 s tolerance is refused', async () => {
    const event = {
      id: 'evt_stale_1',
      object: 'event',
      type: 'invoice.paid',
      created: 1,
      data: { object: { id: 'in_y' } },
    };
    const old = await deliver(t.server.url, event, { timestamp: Math.floor(Date.now() / 1000) - 301 });
    expect(old.status).toBe(400);
    expect(await count({ id: event.id })).toBe(0);
    const recent = await deliver(t.server.url, event, { timestamp: Math.floor(Date.now() / 1000) - 200 });
    expect(recent.status).toBe(200);
  });

  it('a correctly signed body that is not an event is refused with 400, not a 500', async () => {
    expect((await deliver(t.server.url, { hello: 'world' })).status).toBe(400);
    expect((await deliver(t.server.url, { id: 'evt_no_data', type: 'x', created: 1 })).status).toBe(400);
    expect(await count({ id: 'evt_no_data' })).toBe(0);
  });

  it('without a webhook secret the endpoint answers 503 (Stripe retries later)', async () => {
    const app = Fastify();
    const billing = { ...t.deps.config.billing, stripeWebhookSecret: undefined };
    registerStripeWebhookRoute(app, { ...t.deps, config: { ...t.deps.config, billing } } as typeof t.deps);
    const res = await app.inject({
      method: 'POST',
      url: '/webhooks/stripe',
      payload: '{}',
      headers: { 'content-type': 'application/json', 'stripe-signature': 'x' },
    });
    expect(res.statusCode).toBe(503);
    await app.close();
  });
});

describe('ordering', () => {
  it('`updated` delivered before `created` ends in Stripe state', async () => {
    const { org, caller, stripeId } = await subscribedOrg();
    await caller.billing.cancel({ when: 'period_end' });
    // Forget what the operations wrote locally, so only webhooks build the mirror.
    await withDbScope(t.deps.em, org.id, (em) => em.nativeDelete(Subscription, { stripeId }));
    const created = t.stripe.eventsOf('customer.subscription.created', stripeId)[0]!;
    const updated = t.stripe.eventsOf('customer.subscription.updated', stripeId).at(-1)!;
    await deliverAndProcess(t, [updated]);
    await deliverAndProcess(t, [created]);
    const row = await mirror(org, stripeId);
    expect(row).toMatchObject({ status: 'canceling', cancelAtPeriodEnd: true, stripeStatus: 'trialing' });
  });

  it('without an API key, event times decide: an older event never overwrites a newer state', async () => {
    const { org, caller, stripeId } = await subscribedOrg();
    await caller.billing.cancel({ when: 'period_end' });
    await withDbScope(t.deps.em, org.id, (em) => em.nativeDelete(Subscription, { stripeId }));
    const created = structuredClone(
      t.stripe.eventsOf('customer.subscription.created', stripeId)[0]!,
    ) as unknown as Stripe.Event;
    const updated = structuredClone(
      t.stripe.eventsOf('customer.subscription.updated', stripeId).at(-1)!,
    ) as unknown as Stripe.Event;
    created.id = `${created.id}_payload`;
    updated.id = `${updated.id}_payload`;
    updated.created = created.created + 5;
    const deps = { em: t.deps.em, config: t.deps.config, logger: t.deps.logger, stripe: null };
    for (const e of [updated, created]) {
      await withDbScope(t.deps.em, undefined, (em) => storeVerifiedEvent(em, e));
      expect(await processStripeEvent(deps, e.id)).toBe('processed');
    }
    expect(await mirror(org, stripeId)).toMatchObject({ status: 'canceling', cancelAtPeriodEnd: true });
    expect(await processStripeEvent(deps, created.id)).toBe('already_processed');
  });
});

describe('failures', () => {
  it('a failing handler is retried by the queue; the event stays unprocessed until it succeeds', async () => {
    const { org, stripeId } = await subscribedOrg();
    await withDbScope(t.deps.em, org.id, (em) => em.nativeDelete(Subscription, { stripeId }));
    const event = t.stripe.eventsOf('customer.subscription.created', stripeId)[0]!;
    // Stripe's API fails for the first attempt (the SDK's own two retries included).
    t.stripe.fail({ method: 'GET', path: `/v1/subscriptions/${stripeId}`, times: 3, mode: 'status500' });
    expect((await deliver(t.server.url, event)).status).toBe(200);
    const failed = await until(async () => {
      const e = await storedEvent(t.deps, event.id);
      return e?.lastError ? e : null;
    }, 'the failed attempt');
    expect(failed.processedAt).toBeNull();
    expect(failed.attempts).toBe(1);
    expect(await withDbScope(t.deps.em, org.id, (em) => em.count(Subscription, { stripeId }))).toBe(0);

    const done = await until(async () => {
      const e = await storedEvent(t.deps, event.id);
      return e?.processedAt ? e : null;
    }, 'the retry');
    expect(done).toMatchObject({ attempts: 2, lastError: null });
    expect((await mirror(org, stripeId)).status).toBe('trialing');
  });
});

describe('dunning', () => {
  it('three failures send three notices in order, the fourth suspends, a payment reactivates', async () => {
    const { org, caller, stripeId, newEvents } = await subscribedOrg({ trialDays: 0 });
    const sub = t.stripe.subscriptions.get(stripeId)!;
    t.stripe.confirmPayment(sub.latest_invoice as string);
    await deliverAndProcess(t, newEvents());
    expect((await mirror(org, stripeId)).status).toBe('active');

    // Renewals fail days apart in life; here each failure waits for its email before the next, so the order the
    // owner reads them in is the order of the failures (the mail queue runs jobs concurrently and may release one).
    const mailsToOwner = () => t.smtp.messages.filter((m) => m.to.includes(org.owner.email));
    const failureEvents: string[] = [];
    for (let i = 1; i <= 3; i++) {
      const before = t.stripe.events.length;
      const { event } = t.stripe.failRenewal(stripeId);
      failureEvents.push(event.id);
      await deliverAndProcess(t, t.stripe.events.slice(before));
      expect((await mirror(org, stripeId)).failedPaymentAttempts).toBe(i);
      await until(() => mailsToOwner().length >= i || null, `dunning email ${i}`);
    }
    const notices = () =>
      withDbScope(t.deps.em, org.id, (em) =>
        em.find(BillingNotification, {}, { orderBy: { createdAt: 'asc', id: 'asc' } }),
      );
    expect((await notices()).map((n) => [n.kind, n.attempt, n.recipient, n.status])).toEqual([
      ['payment_failed_first', 1, org.owner.email, 'queued'],
      ['payment_failed_second', 2, org.owner.email, 'queued'],
      ['payment_failed_final', 3, org.owner.email, 'queued'],
    ]);
    // The three emails arrived through the mail queue, in order, to the billing contact.
    const mails = mailsToOwner();
    expect(mails.map((m) => m.subject)).toEqual([
      expect.stringMatching(/^Payment for .* could not be charged/),
      expect.stringMatching(/^Payment for .* failed again/),
      expect.stringMatching(/^Final notice: payment for .* failed/),
    ]);
    expect(mails[0]!.decoded).toContain('/app/billing');
    const view = await caller.billing.overview();
    expect(view.subscription).toMatchObject({ status: 'past_due', failedPaymentAttempts: 3 });
    expect(view.entitlement).toMatchObject({ allowed: true, reason: 'past_due_grace' });
    expect(await caller.organization.current()).toMatchObject({ active: true });

    // A replay of a failure (operator) does not count it twice.
    const staff = await callerAs(t.deps, await createStaff(t.deps));
    expect(await staff.ops.billing.events.replay({ eventId: failureEvents[1]! })).toMatchObject({
      queued: true,
    });
    await until(async () => (await storedEvent(t.deps, failureEvents[1]!))?.processedAt, 'the replay');
    const audit = await withDbScope(t.deps.em, undefined, (em) =>
      em.find(OpsAudit, { action: 'billing.replay', targetId: failureEvents[1]! }),
    );
    expect(audit.map((r) => [r.targetType, r.operator])).toEqual([
      ['stripe_event', expect.stringContaining('@')],
    ]);
    expect((await mirror(org, stripeId)).failedPaymentAttempts).toBe(3);

    const before = t.stripe.events.length;
    t.stripe.failRenewal(stripeId);
    await deliverAndProcess(t, t.stripe.events.slice(before));
    expect((await notices()).at(-1)!.kind).toBe('suspended');
    expect((await mirror(org, stripeId)).status).toBe('suspended');
    const orgRow = await withDbScope(t.deps.em, undefined, (em) => em.findOneOrFail(Organization, org.id));
    expect(orgRow.active).toBe(false);
    expect(await failureCode(caller.organization.current())).toBe('TENANT_SUSPENDED');
    // Billing stays usable so the owner can pay.
    const suspended = await caller.billing.overview();
    expect(suspended).toMatchObject({
      suspended: true,
      entitlement: { allowed: false, reason: 'suspended' },
    });

    const { customerId } = await caller.billing.syncCustomer();
    const sdk = createStripeClient(t.deps.config.billing)!;
    const card = await sdk.paymentMethods.create({ type: 'card', card: { token: 'tok_visa' } });
    await sdk.paymentMethods.attach(card.id, { customer: customerId });
    await sdk.customers.update(customerId, { invoice_settings: { default_payment_method: card.id } });
    const paidFrom = t.stripe.events.length;
    expect((await caller.billing.retryInvoice()).status).toBe('paid');
    await deliverAndProcess(t, t.stripe.events.slice(paidFrom));

    expect(await caller.organization.current()).toMatchObject({ active: true });
    expect(await mirror(org, stripeId)).toMatchObject({
      status: 'active',
      failedPaymentAttempts: 0,
      suspendedAt: null,
    });
    expect((await notices()).at(-1)!.kind).toBe('reactivated');
    expect((await caller.billing.overview()).entitlement).toMatchObject({ allowed: true, reason: 'active' });
  });

  it('a payment does not reactivate an organization that staff suspended for another reason', async () => {
    const { org, stripeId, newEvents } = await subscribedOrg({ trialDays: 0 });
    await withDbScope(t.deps.em, undefined, (em) =>
      em.nativeUpdate(Organization, { id: org.id }, { active: false }),
    );
    t.stripe.confirmPayment(t.stripe.subscriptions.get(stripeId)!.latest_invoice as string);
    await deliverAndProcess(t, newEvents());
    const orgRow = await withDbScope(t.deps.em, undefined, (em) => em.findOneOrFail(Organization, org.id));
    expect(orgRow.active).toBe(false);
  });
});

describe('ops', () => {
  it('staff see the webhook log and subscriptions across tenants; others are refused', async () => {
    const { org, stripeId } = await subscribedOrg();
    await deliverAndProcess(t, t.stripe.eventsOf('customer.subscription.created', stripeId));
    const staff = await callerAs(t.deps, await createStaff(t.deps));
    const log = await staff.ops.billing.events.list({ type: 'customer.subscription.created' });
    expect(log.items.find((e) => e.objectId === stripeId)).toMatchObject({
      organizationId: org.id,
      attempts: 1,
      error: null,
    });
    expect(
      (await staff.ops.billing.events.list({ state: 'pending' })).items.every((e) => e.processedAt === null),
    ).toBe(true);
    const subs = await staff.ops.billing.subscriptions.list({});
    expect(subs.items.some((s) => s.stripeId === stripeId && s.organization.id === org.id)).toBe(true);
    expect(new Set(subs.items.map((s) => s.organization.id)).size).toBeGreaterThan(1);
    expect(await failureCode(staff.ops.billing.events.replay({ eventId: 'evt_missing' }))).toBe('NOT_FOUND');

    const tenantOwner = await callerAs(t.deps, org.owner);
    expect(await failureCode(tenantOwner.ops.billing.subscriptions.list({}))).toBe('STAFF_ONLY');
    expect(await failureCode(tenantOwner.ops.billing.events.list({}))).toBe('STAFF_ONLY');
  });
});
