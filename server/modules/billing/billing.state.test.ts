import { describe, expect, it } from 'vitest';
import { billingPlans } from '../../../shared/schemas/billing.ts';
import { parseConfig } from '../../config/env.ts';
import { entitlement, localStatus, mirrorFields, type EntitlementSubject } from './billing.state.ts';
import { idempotencyKey, type Stripe } from './stripe.ts';
import { parseForm } from './sandbox/stripe-server.ts';

const plans = billingPlans.parse({
  price_basic: { name: 'Basic', tier: 'professional', limits: { members: 10 } },
});
const now = new Date('2026-06-01T12:00:00Z');
const days = (n: number) => new Date(now.getTime() + n * 86_400_000);
const opts = { plans, pastDueGraceDays: 7, now };
const sub = (over: Partial<EntitlementSubject>): EntitlementSubject => ({
  status: 'active',
  stripePrice: 'price_basic',
  trialEndsAt: null,
  currentPeriodEnd: days(20),
  endsAt: null,
  lastPaymentFailureAt: null,
  ...over,
});

describe('entitlement', () => {
  it('active and trialing subscriptions get their plan', () => {
    expect(entitlement(sub({}), opts)).toEqual({
      allowed: true,
      reason: 'active',
      tier: 'professional',
      limits: { members: 10 },
      until: days(20),
    });
    expect(entitlement(sub({ status: 'trialing', trialEndsAt: days(3) }), opts)).toMatchObject({
      allowed: true,
      reason: 'trialing',
      until: days(3),
    });
  });

  it('a trial that ended without an event grants nothing', () => {
    expect(entitlement(sub({ status: 'trialing', trialEndsAt: days(-1) }), opts)).toMatchObject({
      allowed: false,
      reason: 'payment_required',
      tier: 'free',
    });
  });

  it('a cancellation keeps access until the paid period ends', () => {
    expect(entitlement(sub({ status: 'canceling', endsAt: days(5) }), opts)).toMatchObject({
      allowed: true,
      reason: 'cancel_grace',
      until: days(5),
    });
    expect(entitlement(sub({ status: 'canceled', endsAt: days(5) }), opts)).toMatchObject({ allowed: true });
    expect(entitlement(sub({ status: 'canceled', endsAt: days(-1) }), opts)).toMatchObject({
      allowed: false,
      reason: 'ended',
      tier: 'free',
      limits: {},
    });
  });

  it('past due keeps access for the configured grace after the first failure', () => {
    const pastDue = sub({ status: 'past_due', lastPaymentFailureAt: days(-6) });
    expect(entitlement(pastDue, opts)).toMatchObject({
      allowed: true,
      reason: 'past_due_grace',
      until: days(1),
    });
    expect(entitlement(pastDue, { ...opts, pastDueGraceDays: 5 })).toMatchObject({
      allowed: false,
      reason: 'payment_required',
    });
    expect(entitlement(sub({ status: 'unpaid', lastPaymentFailureAt: days(-30) }), opts).allowed).toBe(false);
  });

  it('suspended, incomplete, expired and paused subscriptions and no subscription grant nothing', () => {
    for (const [status, reason] of [
      ['suspended', 'suspended'],
      ['incomplete', 'incomplete'],
      ['incomplete_expired', 'ended'],
      ['paused', 'payment_required'],
    ] as const) {
      expect(entitlement(sub({ status }), opts)).toMatchObject({ allowed: false, reason, tier: 'free' });
    }
    expect(entitlement(null, opts)).toMatchObject({ allowed: false, reason: 'no_subscription' });
  });

  it('a price no longer configured still pays for the lowest paid tier', () => {
    expect(entitlement(sub({ stripePrice: 'price_legacy' }), opts)).toMatchObject({
      allowed: true,
      tier: 'professional',
      limits: {},
    });
  });
});

describe('localStatus', () => {
  it("adds Keel's canceling and suspended to Stripe's statuses", () => {
    expect(localStatus('active', false, false)).toBe('active');
    expect(localStatus('active', true, false)).toBe('canceling');
    expect(localStatus('trialing', true, false)).toBe('canceling');
    expect(localStatus('canceled', true, false)).toBe('canceled');
    expect(localStatus('past_due', false, true)).toBe('suspended');
    expect(localStatus('something_new', false, false)).toBe('incomplete');
  });
});

describe('mirrorFields', () => {
  const base = {
    id: 'sub_1',
    customer: 'cus_1',
    status: 'active',
    cancel_at_period_end: false,
    cancel_at: null,
    canceled_at: null,
    ended_at: null,
    trial_end: null,
    items: {
      data: [
        {
          id: 'si_1',
          price: { id: 'price_basic' },
          quantity: 2,
          current_period_start: 1_780_000_000,
          current_period_end: 1_782_592_000,
        },
      ],
    },
  };
  const of = (over: object) => mirrorFields({ ...base, ...over } as unknown as Stripe.Subscription);

  it('reads the billing period from the subscription item', () => {
    expect(of({})).toMatchObject({
      stripeId: 'sub_1',
      stripeCustomerId: 'cus_1',
      stripePrice: 'price_basic',
      stripeItemId: 'si_1',
      quantity: 2,
      currentPeriodStart: new Date(1_780_000_000_000),
      currentPeriodEnd: new Date(1_782_592_000_000),
      endsAt: null,
    });
  });

  it('ends a canceling subscription at its cancel date and a canceled one when it ended', () => {
    expect(of({ cancel_at_period_end: true })).toMatchObject({
      cancelAtPeriodEnd: true,
      endsAt: new Date(1_782_592_000_000),
    });
    expect(of({ cancel_at: 1_781_000_000 })).toMatchObject({
      cancelAtPeriodEnd: true,
      endsAt: new Date(1_781_000_000_000),
    });
    expect(of({ status: 'canceled', ended_at: 1_780_500_000 }).endsAt).toEqual(new Date(1_780_500_000_000));
  });
});

describe('idempotency keys', () => {
  it('depend on the operation and its inputs only, never on the clock', () => {
    const a = idempotencyKey('subscription.create', ['org', 'cus', 'price_basic', 1, 14, null]);
    expect(idempotencyKey('subscription.create', ['org', 'cus', 'price_basic', 1, 14, null])).toBe(a);
    expect(idempotencyKey('subscription.create', ['org', 'cus', 'price_pro', 1, 14, null])).not.toBe(a);
    expect(idempotencyKey('subscription.create', ['org', 'cus', 'price_basic', 1, 14, 'sub_old'])).not.toBe(
      a,
    );
    expect(idempotencyKey('subscription.swap', ['org', 'cus', 'price_basic', 1, 14, null])).not.toBe(a);
    expect(a.length).toBeLessThanOrEqual(255);
  });
});

describe('configuration', () => {
  it('parses plans, trial and grace days, and refuses malformed values by name', () => {
    const config = parseConfig({
      STRIPE_SECRET_KEY: 'sk_test_abc123',
      STRIPE_WEBHOOK_SECRET: 'whsec_abc',
      STRIPE_API_BASE: 'http://127.0.0.1:12111',
      STRIPE_PLANS: '{"price_basic":{"name":"Basic","tier":"professional"}}',
      BILLING_TRIAL_DAYS: '30',
    });
    expect(config.billing).toEqual({
      stripeSecretKey: 'sk_test_abc123',
      stripeWebhookSecret: 'whsec_abc',
      stripeApiBase: 'http://127.0.0.1:12111',
      plans: { price_basic: { name: 'Basic', tier: 'professional', limits: {} } },
      trialDays: 30,
      pastDueGraceDays: 7,
      sandbox: false,
      sandboxFile: '.keel/billing-sandbox.json',
    });
    expect(parseConfig({}).billing).toMatchObject({ stripeSecretKey: undefined, plans: {}, trialDays: 14 });
    for (const [variable, value] of [
      ['STRIPE_PLANS', 'not json'],
      ['STRIPE_PLANS', '{"basic":{"name":"B","tier":"professional"}}'],
      ['STRIPE_PLANS', '{"price_x":{"name":"B","tier":"gold"}}'],
      ['STRIPE_SECRET_KEY', 'pk_test_abc'],
      ['STRIPE_WEBHOOK_SECRET', 'secret'],
      ['STRIPE_API_BASE', 'ftp://x'],
    ]) {
      expect(() => parseConfig({ [variable!]: value })).toThrow(variable);
    }
  });
});

describe("the test server's form decoding", () => {
  it("decodes Stripe's nested form encoding", () => {
    expect(
      parseForm(
        'customer=cus_1&items[0][price]=price_a&items[0][quantity]=2&expand[0]=a.b&metadata[k]=v%20w',
      ),
    ).toEqual({
      customer: 'cus_1',
      items: [{ price: 'price_a', quantity: '2' }],
      expand: ['a.b'],
      metadata: { k: 'v w' },
    });
  });
});
