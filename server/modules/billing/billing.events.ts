import { LockMode } from '@mikro-orm/core';
import { z } from 'zod';
import { AppError } from '../../../shared/errors.ts';
import type { Config } from '../../config/env.ts';
import { withDbScope, type Em } from '../../platform/db/context.ts';
import type { Logger } from '../../platform/logger/logger.ts';
import { accessKey } from '../access/access-change.ts';
import { announceChange, announceRevocation } from '../realtime/access-watcher.ts';
import { Organization } from '../tenancy/organization.entity.ts';
import { BillingNotification, StripeEvent, Subscription, type NotificationKind } from './billing.entity.ts';
import { applySubscription, billingRecipient, currentSubscription } from './billing.service.ts';
import { localStatus } from './billing.state.ts';
import type { Stripe } from './stripe.ts';

/** What webhook ingestion and processing need; a job builds it from its context, tests and the bench directly. */
export interface BillingEventDeps {
  /** Any EntityManager to fork from (the root one, or a job's unscoped fork). */
  em: Em;
  config: Config;
  logger: Logger;
  /** null without STRIPE_SECRET_KEY: objects are then taken from the event payload, ordered by event time. */
  stripe: Stripe | null;
}

// ---------------------------------------------------------------------------------------------- ingestion

const idOf = (v: unknown): string | null =>
  typeof v === 'string'
    ? v
    : v && typeof v === 'object' && 'id' in v && typeof v.id === 'string'
      ? v.id
      : null;

export interface StoreResult {
  /** false: the event id was stored before (a redelivery). */
  stored: boolean;
  processed: boolean;
}

/**
 * Stores a verified event under its id in one statement. A redelivery (or a concurrent duplicate) hits the primary
 * key and stores nothing; the answer says whether that earlier copy is processed yet.
 */
export async function storeVerifiedEvent(em: Em, event: Stripe.Event): Promise<StoreResult> {
  const object = event.data.object as unknown as Record<string, unknown>;
  const rows = await em.getConnection().execute<{ inserted: string; processed: boolean | null }[]>(
    `with ins as (
       insert into stripe_events (id, type, object_id, api_version, livemode, stripe_created_at, payload, received_at, attempts)
       values (?, ?, ?, ?, ?, ?, ?::jsonb, ?, 0)
       on conflict (id) do nothing returning id)
     select (select count(*) from ins)::text as inserted,
            (select processed_at is not null from stripe_events where id = ?) as processed`,
    [
      event.id,
      event.type,
      idOf(object),
      event.api_version ?? null,
      event.livemode === true,
      new Date(event.created * 1000),
      JSON.stringify(event),
      new Date(),
      event.id,
    ],
  );
  const row = rows[0];
  return { stored: row?.inserted === '1', processed: row?.processed === true };
}

// --------------------------------------------------------------------------------------------- processing

/** `busy`: another worker holds the event's lease; try again after it ends. */
export type ProcessOutcome = 'processed' | 'already_processed' | 'busy';

/** Longer than the job timeout, so a live worker never loses its lease. */
const LEASE_SECONDS = 90;

/**
 * Processes one stored event exactly once. The event is claimed with a lease in one atomic update (only an
 * unprocessed event whose lease is free can be claimed), handled without holding a transaction or a connection
 * open during Stripe calls, then marked processed. A failure records its error, frees the lease and leaves the
 * event unprocessed for the queue's retry, a redelivery or an operator's replay; a worker that dies mid-way loses
 * its lease after LEASE_SECONDS.
 */
export async function processStripeEvent(deps: BillingEventDeps, eventId: string): Promise<ProcessOutcome> {
  const sql = (query: string, params: unknown[]) =>
    withDbScope(deps.em, undefined, (em) =>
      em.getConnection().execute<Record<string, unknown>[]>(query, params),
    );
  const claimed = await sql(
    `update stripe_events set claimed_until = now() + make_interval(secs => ?), attempts = attempts + 1
     where id = ? and processed_at is null and (claimed_until is null or claimed_until < now())
     returning payload`,
    [LEASE_SECONDS, eventId],
  );
  const payload = claimed[0]?.payload;
  if (!payload) {
    const row = await withDbScope(deps.em, undefined, (em) =>
      em.findOne(StripeEvent, { id: eventId }, { fields: ['id', 'processedAt'] }),
    );
    if (!row) throw new AppError('NOT_FOUND', `No stored Stripe event ${eventId}`);
    return row.processedAt ? 'already_processed' : 'busy';
  }
  let organizationId: string | null;
  try {
    const event = (typeof payload === 'string' ? JSON.parse(payload) : payload) as Stripe.Event;
    organizationId = await handleEvent(deps, event);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    await sql('update stripe_events set last_error = ?, claimed_until = null where id = ?', [
      message.slice(0, 4000),
      eventId,
    ]).catch((e: unknown) =>
      deps.logger.error({ err: e, eventId }, 'could not record a Stripe event failure'),
    );
    throw err;
  }
  await sql(
    'update stripe_events set processed_at = now(), claimed_until = null, last_error = null, organization_id = ? where id = ?',
    [organizationId, eventId],
  );
  return 'processed';
}

const SUBSCRIPTION_EVENTS = new Set([
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'customer.subscription.paused',
  'customer.subscription.resumed',
  'customer.subscription.pending_update_applied',
  'customer.subscription.pending_update_expired',
]);

/** Applies one event; returns the organization it concerned (null when it concerns none of ours). */
async function handleEvent(deps: BillingEventDeps, event: Stripe.Event): Promise<string | null> {
  const object = event.data.object as unknown as Record<string, unknown>;
  const at = new Date(event.created * 1000);
  const customer =
    event.type.startsWith('customer.') && !event.type.startsWith('customer.subscription')
      ? idOf(object)
      : idOf(object.customer);
  const metadataOrg = orgIdFrom(object);
  if (event.type === 'checkout.session.completed') {
    const session = object as unknown as Stripe.Checkout.Session;
    const orgId = await organizationFor(deps, customer, session.client_reference_id ?? metadataOrg);
    const subId = idOf(session.subscription);
    if (orgId && subId) await syncSubscription(deps, orgId, subId, null, at);
    return orgId;
  }
  const orgId = await organizationFor(deps, customer, metadataOrg);
  if (!orgId) {
    deps.logger.warn(
      { eventId: event.id, type: event.type, customer },
      'Stripe event for an unknown customer',
    );
    return null;
  }
  if (SUBSCRIPTION_EVENTS.has(event.type)) {
    const sub = object as unknown as Stripe.Subscription;
    await syncSubscription(deps, orgId, sub.id, sub, at);
  } else if (event.type === 'customer.subscription.trial_will_end') {
    const sub = object as unknown as Stripe.Subscription;
    await syncSubscription(deps, orgId, sub.id, sub, at);
    await withDbScope(deps.em, orgId, async (em) => {
      if (await em.count(BillingNotification, { stripeEventId: event.id })) return;
      await notify(em, orgId, event.id, 'trial_will_end', null, null);
      await em.flush();
    });
  } else if (event.type === 'invoice.payment_failed') {
    await paymentFailed(deps, orgId, event, object as unknown as Stripe.Invoice, at);
  } else if (event.type === 'invoice.payment_succeeded' || event.type === 'invoice.paid') {
    await paymentSucceeded(deps, orgId, event, object as unknown as Stripe.Invoice, at);
  } else if (event.type === 'customer.deleted') {
    await withDbScope(deps.em, undefined, (em) =>
      em.nativeUpdate(Organization, { id: orgId, stripeCustomerId: customer }, { stripeCustomerId: null }),
    );
  } else if (event.type === 'payment_method.attached' || event.type === 'payment_method.detached') {
    // Payment methods live at Stripe (the portal and Stripe.js manage them); a change may unblock a past-due
    // subscription, so its mirror is refreshed.
    await withDbScope(deps.em, orgId, async (em) => {
      const current = await currentSubscription(em);
      if (current) await syncSubscription(deps, orgId, current.stripeId, null, at);
    });
  }
  return orgId;
}

const uuidSchema = z.uuid();
function orgIdFrom(object: Record<string, unknown>): string | null {
  const metadata = object.metadata as Record<string, unknown> | null | undefined;
  const id = metadata?.organization_id;
  return typeof id === 'string' && uuidSchema.safeParse(id).success ? id : null;
}

/**
 * The organization a Stripe customer belongs to. The stored link wins; the organization id Keel wrote into the
 * metadata only links a customer to an organization that has none yet (a customer created by a request whose
 * response was lost).
 */
async function organizationFor(
  deps: BillingEventDeps,
  customer: string | null,
  metadataOrg: string | null,
): Promise<string | null> {
  if (!customer) return null;
  return withDbScope(deps.em, undefined, async (em) => {
    const linked = await em.findOne(Organization, { stripeCustomerId: customer }, { fields: ['id'] });
    if (linked) return linked.id;
    if (!metadataOrg) return null;
    const adopted = await em.nativeUpdate(
      Organization,
      { id: metadataOrg, stripeCustomerId: null },
      { stripeCustomerId: customer },
    );
    return adopted ? metadataOrg : null;
  });
}

/**
 * Brings the mirror to Stripe's current state. With an API key the subscription is fetched again, so the order in
 * which events arrive does not matter (an `updated` processed before its `created` fetches the same object); without
 * one the event's copy is applied only if it is newer than what the mirror holds.
 */
async function syncSubscription(
  deps: BillingEventDeps,
  orgId: string,
  subscriptionId: string,
  fromEvent: Stripe.Subscription | null,
  eventAt: Date,
): Promise<void> {
  let sub = fromEvent;
  let stateAt = eventAt;
  if (deps.stripe) {
    const before = new Date();
    sub = await deps.stripe.subscriptions.retrieve(subscriptionId);
    stateAt = before;
  }
  if (!sub) return;
  const fetched = sub;
  // Stripe's customer must be this organization's: a subscription is never moved between tenants by metadata.
  await withDbScope(deps.em, orgId, (em) => applySubscription(em, deps.config, orgId, fetched, stateAt));
}

const DUNNING: NotificationKind[] = ['payment_failed_first', 'payment_failed_second', 'payment_failed_final'];
/** The failure that suspends the organization (the one after the final notice). */
export const SUSPEND_AFTER_FAILURES = DUNNING.length + 1;

async function notify(
  em: Em,
  orgId: string,
  eventId: string,
  kind: NotificationKind,
  invoiceId: string | null,
  attempt: number | null,
): Promise<void> {
  // Recorded, not sent: the mail module does not exist yet (see docs/decisions/0040-billing.md).
  em.create(BillingNotification, {
    organization: orgId,
    kind,
    stripeEventId: eventId,
    invoiceId,
    attempt,
    recipient: await billingRecipient(em, orgId),
    status: 'recorded',
  });
}

function subscriptionIdOf(invoice: Stripe.Invoice): string | null {
  return idOf(invoice.parent?.subscription_details?.subscription);
}

/** Locks the invoice's subscription row (or the organization's current one) for a dunning update. */
async function lockSubscription(em: Em, subId: string | null) {
  if (subId) return em.findOne(Subscription, { stripeId: subId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
  const current = await currentSubscription(em);
  return current
    ? em.findOne(Subscription, { id: current.id }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true })
    : null;
}

/**
 * Failed payments 1–3 record the first, second and final notice; the fourth suspends the organization. Each event
 * counts once (a replayed event finds its notice already recorded), and a failure of an invoice that Stripe reports
 * paid by now is stale and ignored.
 */
async function paymentFailed(
  deps: BillingEventDeps,
  orgId: string,
  event: Stripe.Event,
  invoice: Stripe.Invoice,
  at: Date,
): Promise<void> {
  const subId = subscriptionIdOf(invoice);
  if (deps.stripe && invoice.id) {
    const fresh = await deps.stripe.invoices.retrieve(invoice.id);
    if (fresh.status === 'paid' || fresh.status === 'void') return;
  }
  if (subId) await syncSubscription(deps, orgId, subId, null, at);
  await withDbScope(deps.em, orgId, (em) =>
    em.transactional(async (tx) => {
      if (await tx.count(BillingNotification, { stripeEventId: event.id })) return;
      const row = await lockSubscription(tx, subId);
      // The subscription is not mirrored yet (its `created` is still on the way): retry later, lose nothing.
      if (!row) throw new Error(`No local subscription for ${subId ?? 'this organization'} yet`);
      row.failedPaymentAttempts += 1;
      row.lastPaymentFailureAt = at;
      row.lastPaymentFailureMessage = (
        invoice.last_finalization_error?.message ?? 'The payment failed'
      ).slice(0, 500);
      row.version += 1;
      const attempt = row.failedPaymentAttempts;
      const kind = DUNNING[attempt - 1];
      if (kind) {
        await notify(tx, orgId, event.id, kind, invoice.id ?? null, attempt);
      } else {
        if (!row.suspendedAt) {
          row.suspendedAt = new Date();
          await tx.nativeUpdate(Organization, { id: orgId }, { active: false });
          // Around the unit of work: cached memberships and live subscriptions end once this commits.
          await announceRevocation(tx, [accessKey.org(orgId)]);
          deps.logger.warn(
            { organizationId: orgId, attempts: attempt },
            'organization suspended for non-payment',
          );
        }
        row.status = 'suspended';
        await notify(tx, orgId, event.id, 'suspended', invoice.id ?? null, attempt);
      }
    }),
  );
}

/** A successful payment clears the dunning state and lifts a suspension that dunning imposed (and only that one). */
async function paymentSucceeded(
  deps: BillingEventDeps,
  orgId: string,
  event: Stripe.Event,
  invoice: Stripe.Invoice,
  at: Date,
): Promise<void> {
  const subId = subscriptionIdOf(invoice);
  if (subId) await syncSubscription(deps, orgId, subId, null, at);
  await withDbScope(deps.em, orgId, (em) =>
    em.transactional(async (tx) => {
      const row = await lockSubscription(tx, subId);
      if (!row) return;
      // A failure that happened after this payment still stands.
      if (row.lastPaymentFailureAt && row.lastPaymentFailureAt.getTime() > at.getTime()) return;
      const wasSuspended = row.suspendedAt !== null;
      row.failedPaymentAttempts = 0;
      row.lastPaymentFailureAt = null;
      row.lastPaymentFailureMessage = null;
      row.suspendedAt = null;
      row.status = localStatus(row.stripeStatus, row.cancelAtPeriodEnd, false);
      row.version += 1;
      if (wasSuspended) {
        await tx.nativeUpdate(Organization, { id: orgId }, { active: true });
        // Cached memberships still say suspended: refreshed once this commits.
        await announceChange(tx, [accessKey.org(orgId)]);
        if (!(await tx.count(BillingNotification, { stripeEventId: event.id, kind: 'reactivated' }))) {
          await notify(tx, orgId, event.id, 'reactivated', invoice.id ?? null, null);
        }
        deps.logger.info({ organizationId: orgId }, 'organization reactivated after payment');
      }
    }),
  );
}
