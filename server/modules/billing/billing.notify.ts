import type Stripe from 'stripe';
import { withDbScope, type Em } from '../../platform/db/context.ts';
import { TENANT_FILTER } from '../../platform/db/tenant-filter.ts';
import type { Logger } from '../../platform/logger/logger.ts';
import type { JobContext } from '../../platform/queue/definition.ts';
import { MAIL_JOB, type MailRequest } from '../notifications/mail-requests.ts';
import { Organization } from '../tenancy/organization.entity.ts';
import { BillingNotification, StripeEvent, type NotificationKind } from './billing.entity.ts';

const ATTEMPTS: Partial<Record<NotificationKind, 'first' | 'second' | 'final'>> = {
  payment_failed_first: 'first',
  payment_failed_second: 'second',
  payment_failed_final: 'final',
};

function formatAmount(cents: number | null | undefined, currency: string | null | undefined): string {
  if (cents == null || !currency) return 'the open invoice';
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency: currency.toUpperCase() }).format(
      cents / 100,
    );
  } catch {
    return `${(cents / 100).toFixed(2)} ${currency.toUpperCase()}`;
  }
}

/**
 * Sends the dunning and trial emails an event recorded, through the `mail` queue. Each notification is claimed
 * (`recorded` → `queued`) before its mail is queued, so a retried or replayed event never sends one twice; a queueing
 * failure puts the claim back for the next attempt. Runs outside any tenant scope: it reads the notifications of one
 * event, across the organization the event concerned, by the event's id.
 */
export async function deliverBillingNotifications(
  ctx: Pick<JobContext, 'dispatch'> & { em: Em; logger: Logger },
  eventId: string,
): Promise<number> {
  return withDbScope(ctx.em, undefined, async (em) => {
    const noFilter = { filters: { [TENANT_FILTER]: false } };
    const pending = await em.find(
      BillingNotification,
      { stripeEventId: eventId, status: 'recorded' },
      noFilter,
    );
    if (!pending.length) return 0;
    const event = await em.findOne(StripeEvent, { id: eventId });
    const object = (event?.payload as unknown as Stripe.Event | undefined)?.data.object as
      { amount_due?: number; currency?: string; trial_end?: number | null } | undefined;
    let sent = 0;
    for (const n of pending) {
      const attempt = ATTEMPTS[n.kind];
      if (!n.recipient || (!attempt && n.kind !== 'trial_will_end')) continue;
      const org = await em.findOne(Organization, { id: n.organization.id });
      const organizationName = org?.name ?? 'your organization';
      // The billing page's link is added by the mail job; a mail job carries no links.
      const request: MailRequest = attempt
        ? {
            template: 'payment-failed',
            to: n.recipient,
            organizationName,
            attempt,
            amount: formatAmount(object?.amount_due, object?.currency),
          }
        : {
            template: 'trial-ending',
            to: n.recipient,
            organizationName,
            endsAt: new Date((object?.trial_end ?? Date.now() / 1000 + 3 * 86_400) * 1000).toISOString(),
          };
      const claimed = await em.nativeUpdate(
        BillingNotification,
        { id: n.id, status: 'recorded' },
        { status: 'queued' },
        noFilter,
      );
      if (!claimed) continue;
      try {
        await ctx.dispatch(MAIL_JOB, request, { organizationId: n.organization.id });
        sent += 1;
      } catch (err) {
        await em.nativeUpdate(BillingNotification, { id: n.id }, { status: 'recorded' }, noFilter);
        ctx.logger.warn({ err, notification: n.id }, 'billing email not queued; will retry');
        throw err;
      }
    }
    return sent;
  });
}
