import { type TRPCError } from '@trpc/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../../shared/errors.ts';
import { withDbScope } from '../../platform/db/context.ts';
import { addMember, callerAs, createOrg, type TestOrg } from '../../test/factories.ts';
import { Organization } from '../tenancy/organization.entity.ts';
import { Subscription } from './billing.entity.ts';
import { overview, subscribe, type BillingContext } from './billing.service.ts';
import { createStripeClient, STRIPE_API_VERSION } from './stripe.ts';
import { createBillingTestEnv, deliverAndProcess, type BillingTestEnv } from './testing/harness.ts';
import { failureCode } from '../../test/errors.ts';

let t: BillingTestEnv;

beforeAll(async () => {
  t = await createBillingTestEnv();
});
afterAll(() => t.close());

const DAY_MS = 86_400_000;

const owner = (org: TestOrg) => callerAs(t.deps, org.owner);

async function orgRow(id: string) {
  return withDbScope(t.deps.em, undefined, (em) => em.findOneOrFail(Organization, id));
}

describe('configuration', () => {
  it('without a secret key every operation answers "billing not configured"', async () => {
    const org = await createOrg(t.deps);
    const ctx = (em: BillingContext['em']): BillingContext => ({
      em,
      config: t.deps.config,
      stripe: null,
      organizationId: org.id,
    });
    const err = await withDbScope(t.deps.em, org.id, (em) => overview(ctx(em)).catch((e: unknown) => e));
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('SERVICE_UNAVAILABLE');
    expect((err as AppError).details.reason).toBe('billing_not_configured');
  });

  it('every request carries the pinned API version', async () => {
    const org = await createOrg(t.deps);
    await (await owner(org)).billing.syncCustomer();
    const versions = new Set(t.stripe.requests.map((r) => r.stripeVersion));
    expect([...versions]).toEqual([STRIPE_API_VERSION]);
  });
});

describe('customer', () => {
  it('is created once and linked to the organization; later syncs update it', async () => {
    const org = await createOrg(t.deps, 'Customer Co');
    const caller = await owner(org);
    const first = await caller.billing.syncCustomer();
    const second = await caller.billing.syncCustomer();
    expect(second.customerId).toBe(first.customerId);
    const customer = t.stripe.customers.get(first.customerId)!;
    expect(customer.name).toBe('Customer Co');
    expect(customer.email).toBe(org.owner.email);
    expect(customer.metadata).toEqual({ organization_id: org.id });
    expect((await orgRow(org.id)).stripeCustomerId).toBe(first.customerId);
  });
});

describe('subscribe', () => {
  it('starts a 14-day trial by default and returns the SetupIntent secret to confirm', async () => {
    const org = await createOrg(t.deps);
    const caller = await owner(org);
    const res = await caller.billing.subscribe({ price: 'price_basic' });
    expect(res.subscription.status).toBe('trialing');
    expect(res.clientSecretType).toBe('setup');
    expect(res.clientSecret).toMatch(/^seti_.*_secret_/);
    const trialDays = (res.subscription.trialEndsAt!.getTime() - Date.now()) / DAY_MS;
    expect(Math.round(trialDays)).toBe(14);
    const created = t.stripe.requests
      .filter((r) => r.method === 'POST' && r.path === '/v1/subscriptions')
      .at(-1)!;
    expect(created.idempotencyKey).toMatch(/^keel:subscription\.create:/);

    const view = await caller.billing.overview();
    expect(view.subscription).toMatchObject({
      status: 'trialing',
      plan: { price: 'price_basic', name: 'Basic', tier: 'professional' },
      cancelAtPeriodEnd: false,
    });
    expect(view.subscription!.renewsAt).toEqual(view.subscription!.trialEndsAt);
    expect(view.entitlement).toMatchObject({ allowed: true, reason: 'trialing', limits: { members: 10 } });
    expect(view.invoices).toHaveLength(1);
    expect(view.plans.map((p) => p.price)).toEqual(['price_basic', 'price_pro', 'price_enterprise']);
    expect((await orgRow(org.id)).tier).toBe('professional');
  });

  it('without a trial returns the PaymentIntent secret; confirming the payment activates it through webhooks', async () => {
    const org = await createOrg(t.deps);
    const caller = await owner(org);
    const res = await caller.billing.subscribe({ price: 'price_pro', trialDays: 0, quantity: 3 });
    expect(res.subscription.status).toBe('incomplete');
    expect(res.clientSecretType).toBe('payment');
    expect(res.clientSecret).toMatch(/^pi_.*_secret_/);
    expect((await caller.billing.overview()).entitlement).toMatchObject({
      allowed: false,
      reason: 'incomplete',
    });

    const sub = t.stripe.subscriptions.get(res.subscription.stripeId)!;
    const before = t.stripe.events.length;
    t.stripe.confirmPayment(sub.latest_invoice as string);
    await deliverAndProcess(t, t.stripe.events.slice(before));
    const view = await caller.billing.overview();
    expect(view.subscription).toMatchObject({ status: 'active', quantity: 3 });
    expect(view.entitlement).toMatchObject({ allowed: true, reason: 'active' });
    expect(view.invoices[0]).toMatchObject({ status: 'paid', amountPaid: 3000 });
  });

  it('a retried create whose response was lost reuses its idempotency key and creates one subscription', async () => {
    const org = await createOrg(t.deps);
    const customerId = (await (await owner(org)).billing.syncCustomer()).customerId;
    // No SDK retries (the SDK still retries a closed connection once): the operation fails and its caller (a
    // browser, a user pressing again) retries the whole operation.
    const stripe = createStripeClient(t.deps.config.billing, { maxNetworkRetries: 0 });
    const run = () =>
      withDbScope(t.deps.em, org.id, (em) =>
        subscribe(
          { em, config: t.deps.config, stripe, organizationId: org.id },
          { price: 'price_basic', quantity: 1 },
        ),
      );
    t.stripe.fail({ method: 'POST', path: '/v1/subscriptions', times: 2, mode: 'drop' });
    await expect(run()).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    const again = await run();

    const attempts = t.stripe.requests
      .filter((r) => r.method === 'POST' && r.path === '/v1/subscriptions')
      .slice(-3);
    expect(new Set(attempts.map((a) => a.idempotencyKey)).size).toBe(1);
    expect(attempts.map((a) => a.replayed)).toEqual([false, true, true]);
    const atStripe = [...t.stripe.subscriptions.values()].filter((s) => s.customer === customerId);
    expect(atStripe).toHaveLength(1);
    expect(again.subscription.stripeId).toBe(atStripe[0]!.id);
    const mirrored = await withDbScope(t.deps.em, org.id, (em) => em.count(Subscription, {}));
    expect(mirrored).toBe(1);
  });

  it('the SDK retrying a dropped response on its own also creates one subscription', async () => {
    const org = await createOrg(t.deps);
    const caller = await owner(org);
    const customerId = (await caller.billing.syncCustomer()).customerId;
    t.stripe.fail({ method: 'POST', path: '/v1/subscriptions', times: 1, mode: 'drop' });
    const res = await caller.billing.subscribe({ price: 'price_basic' });
    const atStripe = [...t.stripe.subscriptions.values()].filter((s) => s.customer === customerId);
    expect(atStripe.map((s) => s.id)).toEqual([res.subscription.stripeId]);
  });

  it('refuses a second subscription, an unknown plan and malformed input', async () => {
    const org = await createOrg(t.deps);
    const caller = await owner(org);
    await caller.billing.subscribe({ price: 'price_basic' });
    expect(await failureCode(caller.billing.subscribe({ price: 'price_pro' }))).toBe('CONFLICT');
    const other = await owner(await createOrg(t.deps));
    const unknown = await other.billing.subscribe({ price: 'price_gold' }).catch((e: unknown) => e);
    expect((unknown as TRPCError).cause).toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { fieldErrors: { price: ['is not a configured plan'] } },
    });
    expect(await failureCode(other.billing.subscribe({ price: 'gold' }))).toBe('BAD_REQUEST');
    expect(await failureCode(other.billing.subscribe({ price: 'price_basic', quantity: 0 }))).toBe(
      'BAD_REQUEST',
    );
    expect(t.stripe.requests.some((r) => r.path === '/v1/subscriptions' && r.idempotencyKey === null)).toBe(
      false,
    );
  });
});

describe('cancel, resume, swap', () => {
  it('cancel at period end keeps access until then and can be resumed; cancel now ends it', async () => {
    const org = await createOrg(t.deps);
    const caller = await owner(org);
    const { subscription } = await caller.billing.subscribe({ price: 'price_basic' });

    const canceling = await caller.billing.cancel({ when: 'period_end' });
    expect(canceling).toMatchObject({ status: 'canceling', cancelAtPeriodEnd: true });
    expect(canceling.endsAt).toEqual(subscription.currentPeriodEnd);
    expect(canceling.renewsAt).toBeNull();
    expect((await caller.billing.overview()).entitlement).toMatchObject({
      allowed: true,
      reason: 'cancel_grace',
    });

    const resumed = await caller.billing.resume();
    expect(resumed).toMatchObject({ status: 'trialing', cancelAtPeriodEnd: false, endsAt: null });
    expect(await failureCode(caller.billing.resume())).toBe('CONFLICT');

    // Cancel at period end a second time: a new request (the subscription changed), not a replay of the first.
    expect((await caller.billing.cancel({ when: 'period_end' })).status).toBe('canceling');
    await caller.billing.resume();

    const ended = await caller.billing.cancel({ when: 'now' });
    expect(ended.status).toBe('canceled');
    expect(t.stripe.subscriptions.get(subscription.stripeId)!.status).toBe('canceled');
    const view = await caller.billing.overview();
    expect(view.entitlement).toMatchObject({ allowed: false, reason: 'ended', tier: 'free' });
    expect((await orgRow(org.id)).tier).toBe('free');
    expect(await failureCode(caller.billing.cancel({ when: 'now' }))).toBe('NOT_FOUND');

    // Subscribing again after a cancellation is a new request with a new key.
    const again = await caller.billing.subscribe({ price: 'price_basic' });
    expect(again.subscription.stripeId).not.toBe(subscription.stripeId);
  });

  it('swaps plans with and without proration', async () => {
    const org = await createOrg(t.deps);
    const caller = await owner(org);
    const { subscription } = await caller.billing.subscribe({ price: 'price_basic' });
    const pro = await caller.billing.swap({ price: 'price_pro' });
    expect(pro.plan).toEqual({ price: 'price_pro', name: 'Pro', tier: 'professional' });
    const ent = await caller.billing.swap({ price: 'price_enterprise', prorate: false });
    expect(ent.plan.tier).toBe('enterprise');
    expect(t.stripe.planChanges.filter((c) => c.subscription === subscription.stripeId)).toEqual([
      {
        subscription: subscription.stripeId,
        from: 'price_basic',
        to: 'price_pro',
        proration: 'create_prorations',
      },
      { subscription: subscription.stripeId, from: 'price_pro', to: 'price_enterprise', proration: 'none' },
    ]);
    expect((await orgRow(org.id)).tier).toBe('enterprise');
    // Swapping to the current plan changes nothing at Stripe.
    await caller.billing.swap({ price: 'price_enterprise' });
    expect(t.stripe.planChanges.filter((c) => c.subscription === subscription.stripeId)).toHaveLength(2);
  });
});

describe('invoices and payment', () => {
  it('retrying the open invoice fails while the card declines and pays once a working card is the default', async () => {
    const org = await createOrg(t.deps);
    const caller = await owner(org);
    const { customerId } = await caller.billing.syncCustomer();
    await caller.billing.subscribe({ price: 'price_pro', trialDays: 0 });
    expect(await failureCode(caller.billing.retryInvoice())).toBe('PAYMENT_REQUIRED');

    // What Stripe.js and the portal do for the customer, through the real SDK.
    const sdk = createStripeClient(t.deps.config.billing)!;
    const card = await sdk.paymentMethods.create({ type: 'card', card: { token: 'tok_visa' } });
    await sdk.paymentMethods.attach(card.id, { customer: customerId });
    await sdk.customers.update(customerId, { invoice_settings: { default_payment_method: card.id } });

    const paid = await caller.billing.retryInvoice();
    expect(paid.status).toBe('paid');
    expect(t.stripe.invoices.get(paid.invoiceId)!.attempt_count).toBe(2);
    expect(await failureCode(caller.billing.retryInvoice())).toBe('NOT_FOUND');

    await sdk.paymentMethods.detach(card.id);
    expect(t.stripe.customers.get(customerId)!.invoice_settings).toEqual({ default_payment_method: null });
  });

  it('opens a billing portal session for the organization customer', async () => {
    const org = await createOrg(t.deps);
    const caller = await owner(org);
    const { url } = await caller.billing.portal({});
    expect(url).toMatch(/^https:\/\/billing\.stripe\.test\//);
    const session = [...t.stripe.portalSessions.values()].at(-1)!;
    expect(session.customer).toBe((await orgRow(org.id)).stripeCustomerId);
    expect(session.return_url).toBe('http://localhost:3000/app/billing');
    await caller.billing.portal({ returnUrl: 'https://example.test/back' });
    expect([...t.stripe.portalSessions.values()].at(-1)!.return_url).toBe('https://example.test/back');
    expect(await failureCode(caller.billing.portal({ returnUrl: 'javascript:alert(1)' }))).toBe(
      'BAD_REQUEST',
    );
  });
});

describe('who may manage billing', () => {
  it('needs billing:manage: admins and members are refused', async () => {
    const org = await createOrg(t.deps);
    for (const role of ['admin', 'member'] as const) {
      const user = await addMember(t.deps, org.id, role);
      const caller = await callerAs(t.deps, user);
      expect(await failureCode(caller.billing.overview())).toBe('ABILITY_MISSING');
      expect(await failureCode(caller.billing.subscribe({ price: 'price_basic' }))).toBe('ABILITY_MISSING');
    }
    expect(t.stripe.customers.size).toBeGreaterThan(0);
  });

  it('an owner of A cannot read or change the subscription or invoices of B', async () => {
    const a = await createOrg(t.deps, 'Alpha Billing');
    const b = await createOrg(t.deps, 'Bravo Billing');
    const ownerA = await owner(a);
    const ownerB = await owner(b);
    const subA = (await ownerA.billing.subscribe({ price: 'price_basic', trialDays: 0 })).subscription;
    const subB = (await ownerB.billing.subscribe({ price: 'price_pro', trialDays: 0 })).subscription;

    const asBHeader = await callerAs(t.deps, a.owner, { organizationHeader: b.id });
    expect(await failureCode(asBHeader.billing.overview())).toBe('NOT_A_MEMBER');
    expect(await failureCode(asBHeader.billing.cancel({ when: 'now' }))).toBe('NOT_A_MEMBER');
    expect(await failureCode(asBHeader.billing.retryInvoice())).toBe('NOT_A_MEMBER');

    const viewA = await ownerA.billing.overview();
    expect(viewA.subscription!.stripeId).toBe(subA.stripeId);
    const customerA = (await orgRow(a.id)).stripeCustomerId;
    const invoicesA = viewA.invoices.map((i) => t.stripe.invoices.get(i.id)!.customer);
    expect(invoicesA.length).toBeGreaterThan(0);
    expect(new Set(invoicesA)).toEqual(new Set([customerA]));

    await ownerA.billing.cancel({ when: 'now' });
    expect(t.stripe.subscriptions.get(subB.stripeId)!.status).toBe('incomplete');
    // The database agrees: under A's scope, B's rows do not exist, even to raw SQL (row-level security).
    const visible = await withDbScope(t.deps.em, a.id, (em) =>
      em.transactional((tx) => tx.execute<{ stripe_id: string }[]>('select stripe_id from subscriptions')),
    );
    expect(visible.map((r) => r.stripe_id)).toEqual([subA.stripeId]);
  });
});
