import type {
  BillingPlans,
  EntitlementOutput,
  SubscriptionOutput,
  SubscriptionStatus,
} from '../../../shared/schemas/billing.ts';
import type { Stripe } from './stripe.ts';

// Pure rules of billing state: how a Stripe subscription maps onto the local mirror, and what an organization may
// use. No I/O, so every branch is covered by unit tests.

const STRIPE_STATUSES = new Set<string>([
  'trialing',
  'active',
  'past_due',
  'canceled',
  'unpaid',
  'incomplete',
  'incomplete_expired',
  'paused',
]);

/** Keel's status: Stripe's, except `canceling` while it runs to the period end and `suspended` after dunning. */
export function localStatus(
  stripeStatus: string,
  cancelAtPeriodEnd: boolean,
  suspended: boolean,
): SubscriptionStatus {
  if (suspended) return 'suspended';
  if (cancelAtPeriodEnd && ['trialing', 'active', 'past_due'].includes(stripeStatus)) return 'canceling';
  // A status this code does not know (a newer API) grants nothing until someone looks at it.
  return STRIPE_STATUSES.has(stripeStatus) ? (stripeStatus as SubscriptionStatus) : 'incomplete';
}

const toDate = (seconds: number | null | undefined) => (seconds ? new Date(seconds * 1000) : null);

/** The fields of the mirror that come from Stripe's subscription object. */
export interface MirrorFields {
  stripeId: string;
  stripeCustomerId: string;
  stripePrice: string;
  stripeItemId: string | null;
  quantity: number;
  stripeStatus: string;
  trialEndsAt: Date | null;
  currentPeriodStart: Date | null;
  currentPeriodEnd: Date | null;
  cancelAtPeriodEnd: boolean;
  endsAt: Date | null;
}

export function mirrorFields(sub: Stripe.Subscription): MirrorFields {
  // Current API versions keep the billing period on each item, not on the subscription.
  const item = sub.items.data[0];
  const customer = typeof sub.customer === 'string' ? sub.customer : sub.customer.id;
  const cancelAtPeriodEnd = sub.cancel_at_period_end || (sub.cancel_at !== null && sub.status !== 'canceled');
  let endsAt: Date | null = null;
  if (sub.status === 'canceled' || sub.status === 'incomplete_expired') {
    endsAt = toDate(sub.ended_at ?? sub.canceled_at) ?? new Date();
  } else if (cancelAtPeriodEnd) {
    endsAt = toDate(sub.cancel_at ?? item?.current_period_end);
  }
  return {
    stripeId: sub.id,
    stripeCustomerId: customer,
    stripePrice: item?.price.id ?? '',
    stripeItemId: item?.id ?? null,
    quantity: item?.quantity ?? 1,
    stripeStatus: sub.status,
    trialEndsAt: toDate(sub.trial_end),
    currentPeriodStart: toDate(item?.current_period_start),
    currentPeriodEnd: toDate(item?.current_period_end),
    cancelAtPeriodEnd,
    endsAt,
  };
}

/** The subset of the mirror the entitlement rules read. */
type Maybe<T> = T | null | undefined;

export interface EntitlementSubject {
  status: SubscriptionStatus;
  stripePrice: string;
  trialEndsAt?: Maybe<Date>;
  currentPeriodEnd?: Maybe<Date>;
  endsAt?: Maybe<Date>;
  lastPaymentFailureAt?: Maybe<Date>;
}

const DAY_MS = 24 * 3600 * 1000;

/**
 * The one function that decides what an organization may use: active and trialing subscriptions, the grace period
 * of a canceled subscription (until the end of what was paid for), and a configurable grace period after a failed
 * payment. Everything else falls back to the free tier.
 */
export function entitlement(
  sub: EntitlementSubject | null,
  opts: { plans: BillingPlans; pastDueGraceDays: number; now?: Date },
): EntitlementOutput {
  const now = opts.now ?? new Date();
  const deny = (reason: EntitlementOutput['reason']): EntitlementOutput => ({
    allowed: false,
    reason,
    tier: 'free',
    limits: {},
    until: null,
  });
  if (!sub) return deny('no_subscription');
  const plan = opts.plans[sub.stripePrice];
  const allow = (reason: EntitlementOutput['reason'], until: Maybe<Date>): EntitlementOutput => ({
    allowed: true,
    reason,
    // A price that is no longer configured still pays for something: the lowest paid tier, no extra limits.
    tier: plan?.tier ?? 'professional',
    limits: plan?.limits ?? {},
    until: until ?? null,
  });
  const future = (d: Maybe<Date>): d is Date => d != null && d.getTime() > now.getTime();
  switch (sub.status) {
    case 'active':
      return allow('active', sub.currentPeriodEnd);
    case 'trialing':
      return future(sub.trialEndsAt) ? allow('trialing', sub.trialEndsAt) : deny('payment_required');
    case 'canceling': {
      const end = sub.endsAt ?? sub.currentPeriodEnd;
      return future(end) ? allow('cancel_grace', end) : deny('ended');
    }
    case 'canceled':
      return future(sub.endsAt) ? allow('cancel_grace', sub.endsAt) : deny('ended');
    case 'past_due':
    case 'unpaid': {
      const since = sub.lastPaymentFailureAt ?? sub.currentPeriodEnd;
      const graceEnd = since ? new Date(since.getTime() + opts.pastDueGraceDays * DAY_MS) : null;
      return future(graceEnd) ? allow('past_due_grace', graceEnd) : deny('payment_required');
    }
    case 'suspended':
      return deny('suspended');
    case 'incomplete':
      return deny('incomplete');
    case 'incomplete_expired':
      return deny('ended');
    case 'paused':
      return deny('payment_required');
  }
}

/** Statuses whose subscription still exists at Stripe and can be changed (swap, cancel, retry). */
export const LIVE_STATUSES: readonly SubscriptionStatus[] = [
  'trialing',
  'active',
  'past_due',
  'unpaid',
  'canceling',
  'suspended',
  'paused',
  'incomplete',
];

export interface SubscriptionRow extends EntitlementSubject {
  stripeId: string;
  stripeStatus: string;
  quantity: number;
  currentPeriodStart?: Maybe<Date>;
  cancelAtPeriodEnd: boolean;
  failedPaymentAttempts: number;
}

export function toSubscriptionOutput(sub: SubscriptionRow, plans: BillingPlans): SubscriptionOutput {
  const plan = plans[sub.stripePrice];
  const renews = ['active', 'trialing', 'past_due'].includes(sub.status);
  return {
    stripeId: sub.stripeId,
    plan: { price: sub.stripePrice, name: plan?.name ?? null, tier: plan?.tier ?? null },
    quantity: sub.quantity,
    status: sub.status,
    stripeStatus: sub.stripeStatus,
    trialEndsAt: sub.trialEndsAt ?? null,
    currentPeriodStart: sub.currentPeriodStart ?? null,
    currentPeriodEnd: sub.currentPeriodEnd ?? null,
    renewsAt: renews ? ((sub.status === 'trialing' ? sub.trialEndsAt : sub.currentPeriodEnd) ?? null) : null,
    cancelAtPeriodEnd: sub.cancelAtPeriodEnd,
    endsAt: sub.endsAt ?? null,
    failedPaymentAttempts: sub.failedPaymentAttempts,
    lastPaymentFailureAt: sub.lastPaymentFailureAt ?? null,
  };
}
