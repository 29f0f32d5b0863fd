import { z } from 'zod';
import { ORGANIZATION_TIERS } from './tenancy.ts';

/** Stripe subscription statuses, plus Keel's own `canceling` (cancels at period end) and `suspended` (dunning). */
export const SUBSCRIPTION_STATUSES = [
  'trialing',
  'active',
  'past_due',
  'canceled',
  'unpaid',
  'incomplete',
  'incomplete_expired',
  'paused',
  'canceling',
  'suspended',
] as const;
export type SubscriptionStatus = (typeof SUBSCRIPTION_STATUSES)[number];

export const stripePriceId = z
  .string()
  .trim()
  .regex(/^price_[A-Za-z0-9_]{1,200}$/, 'must be a Stripe price id (price_…)');

/** One plan of STRIPE_PLANS: what a Stripe price buys. Limits are per-plan numbers (-1 = unlimited). */
export const billingPlan = z
  .object({
    name: z.string().trim().min(1).max(60),
    tier: z.enum(ORGANIZATION_TIERS),
    limits: z.record(z.string().min(1).max(60), z.number().int().min(-1)).default({}),
  })
  .strict();
export type BillingPlan = z.infer<typeof billingPlan>;

/** STRIPE_PLANS: a JSON object from Stripe price id to plan. */
export const billingPlans = z.record(stripePriceId, billingPlan);
export type BillingPlans = z.infer<typeof billingPlans>;

export const subscribeInput = z
  .object({
    price: stripePriceId,
    quantity: z.number().int().min(1).max(10_000).default(1),
    /** Days of trial; the configured default (14) when absent, 0 for none. */
    trialDays: z.number().int().min(0).max(730).optional(),
  })
  .strict();

export const cancelInput = z.object({ when: z.enum(['now', 'period_end']) }).strict();

export const swapInput = z.object({ price: stripePriceId, prorate: z.boolean().default(true) }).strict();

export const portalInput = z
  .object({
    returnUrl: z
      .url({ protocol: /^https?$/ })
      .max(2000)
      .optional(),
  })
  .strict();

export const subscriptionOutput = z.object({
  stripeId: z.string(),
  plan: z.object({
    price: z.string(),
    name: z.string().nullable(),
    tier: z.enum(ORGANIZATION_TIERS).nullable(),
  }),
  quantity: z.number(),
  status: z.enum(SUBSCRIPTION_STATUSES),
  stripeStatus: z.string(),
  trialEndsAt: z.date().nullable(),
  currentPeriodStart: z.date().nullable(),
  currentPeriodEnd: z.date().nullable(),
  /** Next renewal, when the subscription renews. */
  renewsAt: z.date().nullable(),
  cancelAtPeriodEnd: z.boolean(),
  endsAt: z.date().nullable(),
  failedPaymentAttempts: z.number(),
  lastPaymentFailureAt: z.date().nullable(),
});
export type SubscriptionOutput = z.infer<typeof subscriptionOutput>;

export const entitlementOutput = z.object({
  allowed: z.boolean(),
  reason: z.enum([
    'active',
    'trialing',
    'cancel_grace',
    'past_due_grace',
    'no_subscription',
    'ended',
    'payment_required',
    'suspended',
    'incomplete',
  ]),
  tier: z.enum(ORGANIZATION_TIERS),
  limits: z.record(z.string(), z.number()),
  /** Until when the answer holds without another event (trial end, grace end, period end). */
  until: z.date().nullable(),
});
export type EntitlementOutput = z.infer<typeof entitlementOutput>;

export const invoiceOutput = z.object({
  id: z.string(),
  number: z.string().nullable(),
  status: z.string().nullable(),
  amountDue: z.number(),
  amountPaid: z.number(),
  currency: z.string(),
  createdAt: z.date(),
  hostedUrl: z.string().nullable(),
  pdfUrl: z.string().nullable(),
});
export type InvoiceOutput = z.infer<typeof invoiceOutput>;

export const billingOverviewOutput = z.object({
  configured: z.boolean(),
  /** Payments are simulated by Keel's billing sandbox (development without a Stripe key); nothing is charged. */
  sandbox: z.boolean(),
  suspended: z.boolean(),
  subscription: subscriptionOutput.nullable(),
  entitlement: entitlementOutput,
  invoices: z.array(invoiceOutput),
  plans: z.array(
    z.object({
      price: z.string(),
      name: z.string(),
      tier: z.enum(ORGANIZATION_TIERS),
      limits: z.record(z.string(), z.number()),
    }),
  ),
});
export type BillingOverviewOutput = z.infer<typeof billingOverviewOutput>;

export const subscribeOutput = z.object({
  subscription: subscriptionOutput,
  /** What Stripe.js needs to confirm: a PaymentIntent secret (pay now) or a SetupIntent secret (trial). */
  clientSecret: z.string().nullable(),
  clientSecretType: z.enum(['payment', 'setup']).nullable(),
});

export const webhookEventListInput = z
  .object({
    state: z.enum(['all', 'pending', 'failed', 'processed']).default('all'),
    type: z.string().trim().max(100).optional(),
    limit: z.number().int().min(1).max(100).default(50),
    offset: z.number().int().min(0).max(1_000_000).default(0),
  })
  .strict();

export const opsSubscriptionListInput = z
  .object({
    status: z.enum(SUBSCRIPTION_STATUSES).optional(),
    limit: z.number().int().min(1).max(100).default(50),
    offset: z.number().int().min(0).max(1_000_000).default(0),
  })
  .strict();
