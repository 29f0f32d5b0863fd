import { AppError } from '../../../../shared/errors.ts';
import type { Role } from '../../../../shared/permissions.ts';
import { withDbScope, type Em } from '../../../platform/db/context.ts';
import { StripeEvent } from '../billing.entity.ts';
import { currentSubscription } from '../billing.service.ts';
import type { BillingSandbox } from './sandbox.ts';

/** True when every one of these stored Stripe events has been processed. */
async function eventsProcessed(rootEm: Em, eventIds: string[]): Promise<boolean> {
  const done = await withDbScope(rootEm, undefined, (em) =>
    em.count(StripeEvent, { id: { $in: eventIds }, processedAt: { $ne: null } }),
  );
  return done === eventIds.length;
}

/**
 * Runs a billing operation; in the sandbox it returns once the webhooks the operation caused are delivered and
 * processed, so the page the owner is looking at shows their effect (dunning notices, suspension, reactivation)
 * instead of a state Stripe's events are about to change. With Stripe itself it just runs the operation.
 */
export async function settled<T>(
  sandbox: BillingSandbox | null,
  rootEm: Em,
  operation: () => Promise<T>,
): Promise<T> {
  if (!sandbox) return operation();
  const mark = sandbox.mark();
  const result = await operation();
  await sandbox.settle(mark, (ids) => eventsProcessed(rootEm, ids));
  return result;
}

/**
 * `billing.sandbox.failNextPayment`: the organization's next payment is declined now. Only in the sandbox (it would
 * mean nothing against Stripe) and only for an owner (an admin may manage billing, but faking a failure that can
 * suspend the organization is the owner's call).
 */
export async function failNextPayment(
  sandbox: BillingSandbox | null,
  rootEm: Em,
  em: Em,
  role: Role,
): Promise<{ invoiceId: string; attempt: number }> {
  if (!sandbox) {
    throw new AppError('NOT_FOUND', 'The billing sandbox is not running on this server', {
      reason: 'billing_sandbox_off',
    });
  }
  if (role !== 'owner') {
    throw new AppError('ABILITY_MISSING', 'Only an owner can fail a payment in the billing sandbox');
  }
  const sub = await currentSubscription(em);
  if (!sub) throw new AppError('NOT_FOUND', 'This organization has no subscription');
  const stripeId = sub.stripeId;
  return settled(sandbox, rootEm, async () => sandbox.failNextPayment(stripeId));
}
