import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { SUBSCRIPTION_STATUSES } from '../../../shared/schemas/billing.ts';
import { tenantFilters } from '../../platform/db/tenant-filter.ts';
import { Organization } from '../tenancy/organization.entity.ts';

/**
 * The local mirror of one Stripe subscription (Cashier's `subscriptions`). Stripe stays the source of truth: webhooks
 * and operations overwrite this row from Stripe's current object. An organization keeps its old, ended
 * subscriptions as history; the newest one is "the" subscription.
 */
export const Subscription = defineEntity({
  name: 'Subscription',
  tableName: 'subscriptions',
  filters: tenantFilters,
  indexes: [{ properties: ['organization', 'createdAt'] }, { properties: ['status'] }],
  properties: {
    id: p
      .uuid()
      .primary()
      .onCreate(() => randomUUID()),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    type: p.string().length(40).default('default'),
    stripeId: p.string().length(255).unique(),
    stripeCustomerId: p.string().length(255),
    stripePrice: p.string().length(255),
    stripeItemId: p.string().length(255).nullable(),
    quantity: p.integer().default(1),
    /** Stripe's status as last seen; `status` adds Keel's `canceling` and `suspended`. */
    stripeStatus: p.string().length(32),
    status: p.enum(SUBSCRIPTION_STATUSES),
    trialEndsAt: p.datetime().nullable(),
    currentPeriodStart: p.datetime().nullable(),
    currentPeriodEnd: p.datetime().nullable(),
    cancelAtPeriodEnd: p.boolean().default(false),
    endsAt: p.datetime().nullable(),
    failedPaymentAttempts: p.integer().default(0),
    lastPaymentFailureAt: p.datetime().nullable(),
    lastPaymentFailureMessage: p.string().length(500).nullable(),
    /** Set when dunning suspended the organization; only then does a payment reactivate it. */
    suspendedAt: p.datetime().nullable(),
    /** Stripe time of the state mirrored here, so an older event delivered late never overwrites a newer state. */
    stripeStateAt: p.datetime().nullable(),
    /** Bumped by every local write: part of the idempotency keys of operations on this subscription. */
    version: p.integer().default(0),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p
      .datetime()
      .onCreate(() => new Date())
      .onUpdate(() => new Date()),
  },
});
export type ISubscription = InferEntity<typeof Subscription>;

/**
 * Every verified Stripe webhook event, stored before it is acknowledged. The event id is the primary key, so a
 * redelivery cannot be stored (or processed) twice. Operations data, read by staff only (the ops console), so it has
 * no tenant filter; the organization is filled in when processing resolves it.
 */
export const StripeEvent = defineEntity({
  name: 'StripeEvent',
  tableName: 'stripe_events',
  indexes: [{ properties: ['receivedAt'] }, { properties: ['type', 'receivedAt'] }],
  properties: {
    id: p.string().length(255).primary(),
    type: p.string().length(100),
    objectId: p.string().length(255).nullable(),
    organization: () => p.manyToOne(Organization).nullable().deleteRule('set null'),
    apiVersion: p.string().length(40).nullable(),
    livemode: p.boolean().default(false),
    stripeCreatedAt: p.datetime(),
    payload: p.json<Record<string, unknown>>(),
    receivedAt: p.datetime(),
    processedAt: p.datetime().nullable(),
    /** Lease of the worker processing it; an expired lease (a dead worker) lets another take over. */
    claimedUntil: p.datetime().nullable(),
    attempts: p.integer().default(0),
    lastError: p.text().nullable(),
  },
});
export type IStripeEvent = InferEntity<typeof StripeEvent>;

export const NOTIFICATION_KINDS = [
  'payment_failed_first',
  'payment_failed_second',
  'payment_failed_final',
  'suspended',
  'reactivated',
  'trial_will_end',
] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

/**
 * Billing messages owed to an organization (dunning, trial ending). The mail module does not exist yet, so they are
 * recorded here with status `recorded`; once it exists it sends them from its queue and sets `sent`. One row per
 * (event, kind): replaying an event cannot send a second "final notice".
 */
export const BillingNotification = defineEntity({
  name: 'BillingNotification',
  tableName: 'billing_notifications',
  filters: tenantFilters,
  uniques: [{ properties: ['stripeEventId', 'kind'] }],
  indexes: [{ properties: ['organization', 'createdAt'] }],
  properties: {
    id: p
      .uuid()
      .primary()
      .onCreate(() => randomUUID()),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    kind: p.enum(NOTIFICATION_KINDS),
    stripeEventId: p.string().length(255),
    invoiceId: p.string().length(255).nullable(),
    attempt: p.integer().nullable(),
    recipient: p.string().length(254).nullable(),
    status: p.enum(['recorded', 'queued', 'sent'] as const).default('recorded'),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export type IBillingNotification = InferEntity<typeof BillingNotification>;
