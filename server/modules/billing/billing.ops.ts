import { AppError } from '../../../shared/errors.ts';
import type { SubscriptionStatus } from '../../../shared/schemas/billing.ts';
import type { Em } from '../../platform/db/context.ts';
import type { Logger } from '../../platform/logger/logger.ts';
import type { QueueSystem } from '../../platform/queue/system.ts';
import { User } from '../auth/user.entity.ts';
import { recordOperatorAction, type Operator } from '../ops/ops-audit.ts';
import { StripeEvent, Subscription } from './billing.entity.ts';
import { stripeEventJob } from './billing.jobs.ts';

// Staff reads and actions across tenants for the operations console. Stripe events are operations data (no tenant
// filter); subscriptions are tenant-owned, so listing them across tenants turns the tenant filter off here, in this
// one named function, and logs who did it.

export async function listWebhookEvents(
  em: Em,
  input: {
    state: 'all' | 'pending' | 'failed' | 'processed';
    type?: string | undefined;
    limit: number;
    offset: number;
  },
) {
  const where: Record<string, unknown> = {};
  if (input.type) where.type = input.type;
  if (input.state === 'processed') where.processedAt = { $ne: null };
  if (input.state === 'pending') where.processedAt = null;
  if (input.state === 'failed') Object.assign(where, { processedAt: null, lastError: { $ne: null } });
  const [rows, total] = await em.findAndCount(StripeEvent, where, {
    orderBy: { receivedAt: 'desc', id: 'desc' },
    limit: input.limit,
    offset: input.offset,
    exclude: ['payload'],
  });
  return {
    total,
    items: rows.map((e) => ({
      id: e.id,
      type: e.type,
      objectId: e.objectId,
      organizationId: e.organization?.id ?? null,
      stripeCreatedAt: e.stripeCreatedAt,
      receivedAt: e.receivedAt,
      processedAt: e.processedAt,
      attempts: e.attempts,
      error: e.lastError,
    })),
  };
}

/**
 * Processes one stored event again: it is marked unprocessed and queued. Handlers are idempotent (they re-read
 * Stripe's objects and record dunning steps once per event), so replaying a processed event is safe.
 */
export async function replayWebhookEvent(
  em: Em,
  queue: QueueSystem,
  logger: Logger,
  eventId: string,
  /** The operator, or the staff user's id (their email is looked up for the audit log). */
  staff: Operator | string,
  requestId?: string,
): Promise<{ eventId: string; queued: boolean }> {
  const event = await em.findOne(StripeEvent, { id: eventId }, { exclude: ['payload'] });
  if (!event) throw new AppError('NOT_FOUND', `No stored Stripe event ${eventId}`);
  await em.nativeUpdate(StripeEvent, { id: eventId }, { processedAt: null });
  const result = await queue.dispatch(stripeEventJob, { eventId }, { organizationId: null });
  const operator = typeof staff === 'string' ? await operatorById(em, staff) : staff;
  logger.info({ operator, eventId, type: event.type }, 'ops replayed a Stripe event');
  await recordOperatorAction(em, {
    operator,
    action: 'billing.replay',
    targetType: 'stripe_event',
    targetId: eventId,
    details: { type: event.type, queued: result.dispatched },
    requestId: requestId ?? null,
  });
  return { eventId, queued: result.dispatched };
}

async function operatorById(em: Em, userId: string): Promise<Operator> {
  const user = await em.findOne(User, { id: userId }, { fields: ['id', 'email'] });
  return user ? { id: user.id, email: user.email } : { label: `user ${userId}` };
}

export async function listAllSubscriptions(
  em: Em,
  logger: Logger,
  staffUserId: string,
  input: { status?: SubscriptionStatus | undefined; limit: number; offset: number },
) {
  logger.info({ staffUserId, status: input.status }, 'ops listed subscriptions across tenants');
  const [rows, total] = await em.findAndCount(Subscription, input.status ? { status: input.status } : {}, {
    filters: false,
    populate: ['organization'],
    orderBy: { createdAt: 'desc', id: 'desc' },
    limit: input.limit,
    offset: input.offset,
  });
  return {
    total,
    items: rows.map((s) => ({
      organization: {
        id: s.organization.id,
        name: s.organization.name,
        slug: s.organization.slug,
        active: s.organization.active,
      },
      stripeId: s.stripeId,
      stripeCustomerId: s.stripeCustomerId,
      price: s.stripePrice,
      quantity: s.quantity,
      status: s.status,
      trialEndsAt: s.trialEndsAt,
      currentPeriodEnd: s.currentPeriodEnd,
      endsAt: s.endsAt,
      failedPaymentAttempts: s.failedPaymentAttempts,
      createdAt: s.createdAt,
    })),
  };
}
