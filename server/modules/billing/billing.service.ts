import { LockMode, UniqueConstraintViolationException } from '@mikro-orm/core';
import { AppError } from '../../../shared/errors.ts';
import type {
  BillingOverviewOutput,
  InvoiceOutput,
  SubscriptionOutput,
} from '../../../shared/schemas/billing.ts';
import type { Config } from '../../config/env.ts';
import type { Em } from '../../platform/db/context.ts';
import { accessKey } from '../access/access-change.ts';
import { announceChange } from '../realtime/access-watcher.ts';
import { Membership } from '../tenancy/membership.entity.ts';
import { Organization, type IOrganization } from '../tenancy/organization.entity.ts';
import { Subscription, type ISubscription } from './billing.entity.ts';
import {
  entitlement,
  LIVE_STATUSES,
  localStatus,
  mirrorFields,
  toSubscriptionOutput,
} from './billing.state.ts';
import { billingNotConfigured, callStripe, idempotencyKey, type Stripe } from './stripe.ts';

/** What every billing operation works with: the tenant-scoped EntityManager and the organization it acts for. */
export interface BillingContext {
  em: Em;
  config: Config;
  /** null when STRIPE_SECRET_KEY is unset: operations refuse with "billing not configured". */
  stripe: Stripe | null;
  organizationId: string;
  /** Billing runs against Keel's sandbox (modules/billing/sandbox), not Stripe: the page says so. */
  sandbox?: boolean;
}

function requireStripe(ctx: BillingContext): Stripe {
  if (!ctx.stripe) throw billingNotConfigured();
  return ctx.stripe;
}

// ------------------------------------------------------------------------------------------------- the mirror

/** The organization's subscription: the newest one (older rows are history). */
export function currentSubscription(em: Em): Promise<ISubscription | null> {
  return em.findOne(Subscription, {}, { orderBy: { createdAt: 'desc', id: 'desc' } });
}

/**
 * Writes Stripe's subscription into the mirror, unless the mirror already holds a newer state (`stateAt` is when
 * Stripe's object was read, or the event's time when it comes from an event payload). The row is locked for the
 * comparison, so two writers racing with different snapshots end with the newer one whatever order they commit in.
 * `em` must be scoped to the organization.
 */
export async function applySubscription(
  em: Em,
  config: Config,
  organizationId: string,
  sub: Stripe.Subscription,
  stateAt: Date,
): Promise<ISubscription> {
  const fields = mirrorFields(sub);
  const write = () =>
    em.transactional(async (tx) => {
      let row = await tx.findOne(
        Subscription,
        { stripeId: fields.stripeId },
        { lockMode: LockMode.PESSIMISTIC_WRITE },
      );
      if (row?.stripeStateAt && row.stripeStateAt.getTime() > stateAt.getTime()) return row;
      if (!row) {
        row = tx.create(Subscription, {
          organization: organizationId,
          ...fields,
          status: localStatus(fields.stripeStatus, fields.cancelAtPeriodEnd, false),
          stripeStateAt: stateAt,
          version: 1,
        });
      } else {
        tx.assign(row, {
          ...fields,
          status: localStatus(fields.stripeStatus, fields.cancelAtPeriodEnd, row.suspendedAt !== null),
          stripeStateAt: stateAt,
          version: row.version + 1,
        });
      }
      await tx.flush();
      await syncTier(tx, config, organizationId);
      return row;
    });
  try {
    return await write();
  } catch (err) {
    // Two first writers of the same subscription: the loser finds the winner's row on its second try.
    if (err instanceof UniqueConstraintViolationException) return write();
    throw err;
  }
}

/** The organization's tier follows what its newest subscription entitles it to. */
async function syncTier(em: Em, config: Config, organizationId: string): Promise<void> {
  const sub = await currentSubscription(em);
  const ent = entitlement(sub, config.billing);
  const changed = await em.nativeUpdate(
    Organization,
    { id: organizationId, tier: { $ne: ent.tier } },
    { tier: ent.tier },
  );
  // Cached memberships carry the tier (exports pick their queue by it).
  if (changed) await announceChange(em, [accessKey.org(organizationId)]);
}

/** Where billing messages go: the billing email, else the first owner's address. */
export async function billingRecipient(em: Em, organizationId: string): Promise<string | null> {
  const org = await em.findOneOrFail(Organization, organizationId);
  if (org.billingEmail) return org.billingEmail;
  const owner = await em.findOne(
    Membership,
    { role: 'owner' },
    { populate: ['user'], orderBy: { createdAt: 'asc' } },
  );
  return owner ? (owner.user as unknown as { email: string }).email : null;
}

// --------------------------------------------------------------------------------------------- operations

async function loadOrganization(ctx: BillingContext): Promise<IOrganization> {
  return ctx.em.findOneOrFail(Organization, ctx.organizationId, { refresh: true });
}

/** Creates the organization's Stripe customer on first use, or brings its name and email up to date. */
export async function syncCustomer(ctx: BillingContext): Promise<{ customerId: string }> {
  const stripe = requireStripe(ctx);
  const org = await loadOrganization(ctx);
  const email = org.billingEmail ?? (await billingRecipient(ctx.em, org.id));
  const fields = { name: org.name, email: email ?? undefined, metadata: { organization_id: org.id } };
  if (org.stripeCustomerId) {
    const id = org.stripeCustomerId;
    await callStripe(() => stripe.customers.update(id, fields));
    return { customerId: id };
  }
  // Keyed on the organization only: two racing first calls create one customer.
  const customer = await callStripe(() =>
    stripe.customers.create(fields, { idempotencyKey: idempotencyKey('customer.create', [org.id]) }),
  );
  await ctx.em.nativeUpdate(
    Organization,
    { id: org.id, stripeCustomerId: null },
    { stripeCustomerId: customer.id },
  );
  const saved = await loadOrganization(ctx);
  return { customerId: saved.stripeCustomerId ?? customer.id };
}

async function customerId(ctx: BillingContext): Promise<string> {
  const org = await loadOrganization(ctx);
  return org.stripeCustomerId ?? (await syncCustomer(ctx)).customerId;
}

function requirePlan(config: Config, price: string) {
  const plan = config.billing.plans[price];
  if (!plan) {
    throw new AppError('VALIDATION_FAILED', 'No such plan', {
      fieldErrors: { price: ['is not a configured plan'] },
    });
  }
  return plan;
}

async function requireLive(ctx: BillingContext): Promise<ISubscription> {
  const sub = await currentSubscription(ctx.em);
  if (!sub || !LIVE_STATUSES.includes(sub.status)) {
    throw new AppError('NOT_FOUND', 'This organization has no active subscription');
  }
  return sub;
}

const output = (ctx: BillingContext, row: ISubscription) =>
  toSubscriptionOutput(row, ctx.config.billing.plans);

export interface SubscribeResult {
  subscription: SubscriptionOutput;
  clientSecret: string | null;
  clientSecretType: 'payment' | 'setup' | null;
}

/**
 * Starts a subscription (with a trial unless told otherwise) in `default_incomplete` mode: Stripe creates it with an
 * open first invoice or a pending SetupIntent, and the client confirms with the secret returned here.
 */
export async function subscribe(
  ctx: BillingContext,
  input: { price: string; quantity: number; trialDays?: number | undefined },
): Promise<SubscribeResult> {
  const stripe = requireStripe(ctx);
  requirePlan(ctx.config, input.price);
  const current = await currentSubscription(ctx.em);
  if (current && LIVE_STATUSES.includes(current.status)) {
    throw new AppError(
      'CONFLICT',
      'This organization already has a subscription: swap its plan or cancel it first',
    );
  }
  const customer = await customerId(ctx);
  const trialDays = input.trialDays ?? ctx.config.billing.trialDays;
  // The previous subscription is part of the key: subscribing again after a cancellation is a new request, a retry
  // of this one is not.
  const key = idempotencyKey('subscription.create', [
    ctx.organizationId,
    customer,
    input.price,
    input.quantity,
    trialDays,
    current?.stripeId ?? null,
  ]);
  const sub = await callStripe(() =>
    stripe.subscriptions.create(
      {
        customer,
        items: [{ price: input.price, quantity: input.quantity }],
        payment_behavior: 'default_incomplete',
        payment_settings: { save_default_payment_method: 'on_subscription' },
        ...(trialDays > 0 ? { trial_period_days: trialDays } : {}),
        metadata: { organization_id: ctx.organizationId },
        expand: ['latest_invoice.confirmation_secret', 'pending_setup_intent'],
      },
      { idempotencyKey: key },
    ),
  );
  const row = await applySubscription(ctx.em, ctx.config, ctx.organizationId, sub, new Date());
  const invoice = typeof sub.latest_invoice === 'object' ? sub.latest_invoice : null;
  const setup = typeof sub.pending_setup_intent === 'object' ? sub.pending_setup_intent : null;
  const paymentSecret = invoice?.confirmation_secret?.client_secret ?? null;
  const needsPayment = invoice !== null && invoice.status === 'open' && invoice.amount_due > 0;
  return {
    subscription: output(ctx, row),
    clientSecret: needsPayment ? paymentSecret : (setup?.client_secret ?? null),
    clientSecretType: needsPayment && paymentSecret ? 'payment' : setup?.client_secret ? 'setup' : null,
  };
}

/** Cancels now (access ends at once) or at the end of the paid period (a grace period the owner can resume from). */
export async function cancel(ctx: BillingContext, when: 'now' | 'period_end'): Promise<SubscriptionOutput> {
  const stripe = requireStripe(ctx);
  const row = await requireLive(ctx);
  const key = idempotencyKey(`subscription.cancel.${when}`, [row.stripeId, row.version]);
  const sub = await callStripe(() =>
    when === 'now'
      ? stripe.subscriptions.cancel(row.stripeId, {}, { idempotencyKey: key })
      : stripe.subscriptions.update(row.stripeId, { cancel_at_period_end: true }, { idempotencyKey: key }),
  );
  return output(ctx, await applySubscription(ctx.em, ctx.config, ctx.organizationId, sub, new Date()));
}

/** Undoes a cancellation at period end while the grace period lasts. */
export async function resume(ctx: BillingContext): Promise<SubscriptionOutput> {
  const stripe = requireStripe(ctx);
  const row = await currentSubscription(ctx.em);
  if (!row || row.status !== 'canceling') {
    throw new AppError(
      'CONFLICT',
      'Only a subscription that is canceling at the end of its period can be resumed',
    );
  }
  const sub = await callStripe(() =>
    stripe.subscriptions.update(
      row.stripeId,
      { cancel_at_period_end: false },
      { idempotencyKey: idempotencyKey('subscription.resume', [row.stripeId, row.version]) },
    ),
  );
  return output(ctx, await applySubscription(ctx.em, ctx.config, ctx.organizationId, sub, new Date()));
}

/** Moves the subscription to another plan, prorating the difference or not. */
export async function swap(
  ctx: BillingContext,
  input: { price: string; prorate: boolean },
): Promise<SubscriptionOutput> {
  const stripe = requireStripe(ctx);
  requirePlan(ctx.config, input.price);
  const row = await requireLive(ctx);
  if (row.stripePrice === input.price) return output(ctx, row);
  if (!row.stripeItemId)
    throw new AppError('CONFLICT', 'The subscription has no item to swap; sync it first');
  const itemId = row.stripeItemId;
  const sub = await callStripe(() =>
    stripe.subscriptions.update(
      row.stripeId,
      {
        items: [{ id: itemId, price: input.price }],
        proration_behavior: input.prorate ? 'create_prorations' : 'none',
      },
      {
        idempotencyKey: idempotencyKey('subscription.swap', [
          row.stripeId,
          row.stripePrice,
          input.price,
          input.prorate,
          row.version,
        ]),
      },
    ),
  );
  return output(ctx, await applySubscription(ctx.em, ctx.config, ctx.organizationId, sub, new Date()));
}

/**
 * Pays the open invoice now with the customer's default payment method. The key includes the invoice's attempt
 * count: a retried request is the same attempt, a later retry after another failure is a new one.
 */
export async function retryInvoice(
  ctx: BillingContext,
): Promise<{ invoiceId: string; status: string | null }> {
  const stripe = requireStripe(ctx);
  const customer = await customerId(ctx);
  const open = await callStripe(() => stripe.invoices.list({ customer, status: 'open', limit: 1 }));
  const invoice = open.data[0];
  if (!invoice?.id) throw new AppError('NOT_FOUND', 'There is no open invoice to pay');
  const id = invoice.id;
  const paid = await callStripe(() =>
    stripe.invoices.pay(
      id,
      {},
      { idempotencyKey: idempotencyKey('invoice.pay', [id, invoice.attempt_count]) },
    ),
  );
  return { invoiceId: id, status: paid.status };
}

/** A Stripe billing portal session for the organization's customer. */
export async function openPortal(
  ctx: BillingContext,
  returnUrl: string | undefined,
): Promise<{ url: string }> {
  const stripe = requireStripe(ctx);
  const customer = await customerId(ctx);
  const session = await callStripe(() =>
    stripe.billingPortal.sessions.create({
      customer,
      return_url: returnUrl ?? new URL('/app/billing', ctx.config.appUrl).toString(),
    }),
  );
  return { url: session.url };
}

function toInvoiceOutput(inv: Stripe.Invoice): InvoiceOutput {
  return {
    id: inv.id ?? '',
    number: inv.number,
    status: inv.status,
    amountDue: inv.amount_due,
    amountPaid: inv.amount_paid,
    currency: inv.currency,
    createdAt: new Date(inv.created * 1000),
    hostedUrl: inv.hosted_invoice_url ?? null,
    pdfUrl: inv.invoice_pdf ?? null,
  };
}

/** What the tenant's billing page shows: plan, status, dates, what it may use, invoices and the plans on offer. */
export async function overview(ctx: BillingContext): Promise<BillingOverviewOutput> {
  const stripe = requireStripe(ctx);
  const [org, sub] = await Promise.all([loadOrganization(ctx), currentSubscription(ctx.em)]);
  let invoices: InvoiceOutput[] = [];
  if (org.stripeCustomerId) {
    const customer = org.stripeCustomerId;
    const list = await callStripe(() => stripe.invoices.list({ customer, limit: 24 }));
    invoices = list.data.map(toInvoiceOutput);
  }
  return {
    configured: true,
    sandbox: ctx.sandbox ?? false,
    suspended: !org.active,
    subscription: sub ? output(ctx, sub) : null,
    entitlement: entitlement(sub, ctx.config.billing),
    invoices,
    plans: Object.entries(ctx.config.billing.plans).map(([price, plan]) => ({ price, ...plan })),
  };
}

/** The entitlement of the organization in scope, for other modules (limits, feature gates). */
export async function organizationEntitlement(em: Em, config: Config) {
  return entitlement(await currentSubscription(em), config.billing);
}

/** Re-reads the subscription from Stripe and mirrors it (operators and support; also after a lost webhook). */
export async function refreshSubscription(ctx: BillingContext): Promise<SubscriptionOutput | null> {
  const stripe = requireStripe(ctx);
  const row = await currentSubscription(ctx.em);
  if (!row) return null;
  const sub = await callStripe(() => stripe.subscriptions.retrieve(row.stripeId));
  return output(ctx, await applySubscription(ctx.em, ctx.config, ctx.organizationId, sub, new Date()));
}
