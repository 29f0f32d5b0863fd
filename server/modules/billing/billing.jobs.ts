import { z } from 'zod';
import { defineJob } from '../../platform/queue/definition.ts';
import { processStripeEvent } from './billing.events.ts';
import { deliverBillingNotifications } from './billing.notify.ts';
import { stripeClientFor } from './stripe.ts';

/**
 * Processes one stored Stripe event on the `webhooks` queue. The payload is only the event id: the event itself
 * is in PostgreSQL, which is also where "processed" is recorded. A unique id per event keeps redeliveries that
 * arrive while it is pending from queueing it twice; processing itself is exactly-once regardless.
 */
export const stripeEventJob = defineJob({
  name: 'billing.stripe-event',
  queue: 'webhooks',
  payload: z.object({ eventId: z.string().min(1).max(255) }).strict(),
  tries: 8,
  // Stripe itself redelivers for three days; the queue's retries cover the first hours of an outage.
  backoff: [1_000, 5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000],
  timeoutMs: 60_000,
  uniqueId: (p) => p.eventId,
  uniqueForMs: 3 * 3_600_000,
  tags: () => ['stripe'],
  handle: async ({ eventId }, ctx) => {
    const outcome = await processStripeEvent(
      { em: ctx.em, config: ctx.config, logger: ctx.logger, stripe: stripeClientFor(ctx.config) },
      eventId,
    );
    // Another worker holds this event (a duplicate job, or a dead worker's lease not yet expired): come back later.
    if (outcome === 'busy') ctx.release(5_000);
    // The dunning / trial emails this event recorded (also those a failed earlier attempt left unsent).
    await deliverBillingNotifications(ctx, eventId);
    return { outcome };
  },
});
