import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AppError } from '../../../shared/errors.ts';
import type { AppDeps } from '../../app-deps.ts';
import { sendError } from '../../platform/http/error-reply.ts';
import { withDbScope } from '../../platform/db/context.ts';
import { storeVerifiedEvent } from './billing.events.ts';
import { stripeEventJob } from './billing.jobs.ts';
import { verifyWebhook, type Stripe } from './stripe.ts';

export const STRIPE_WEBHOOK_PATH = '/webhooks/stripe';
const MAX_WEBHOOK_BODY = 512 * 1024;

/** The envelope fields Keel stores; the object itself is read by the handlers. */
const stripeEventShape = z.object({
  id: z.string().min(1).max(255),
  type: z.string().min(1).max(100),
  created: z.number().int().nonnegative(),
  livemode: z.boolean().optional(),
  api_version: z.string().max(40).nullish(),
  data: z.object({ object: z.record(z.string(), z.unknown()) }),
});

/**
 * `POST /webhooks/stripe`: verify the signature on the raw bytes, store the event under its id, queue it, answer.
 * Nothing else happens in the request, so Stripe gets its 2xx in milliseconds whatever processing costs.
 *
 * Registered in its own encapsulated plugin: the signature covers the exact bytes Stripe sent, so this route must not
 * see the JSON parser the rest of the app (and tRPC) installs.
 */
export function registerStripeWebhookRoute(app: FastifyInstance, deps: AppDeps): void {
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_WEBHOOK_BODY }, (_req, body, done) =>
      done(null, body),
    );
    scope.post(STRIPE_WEBHOOK_PATH, async (req, reply) => {
      const secret = deps.config.billing.stripeWebhookSecret;
      if (!secret) {
        req.log.error('Stripe webhook received but STRIPE_WEBHOOK_SECRET is unset');
        // 503: Stripe keeps the event and retries, so configuring the secret later loses nothing.
        return sendError(
          req,
          reply,
          new AppError('SERVICE_UNAVAILABLE', 'Stripe webhooks are not configured'),
        );
      }
      const signature = req.headers['stripe-signature'];
      const body = req.body;
      if (typeof signature !== 'string' || !Buffer.isBuffer(body) || body.length === 0) {
        req.log.warn(
          { ip: req.ip, hasSignature: typeof signature === 'string' },
          'Stripe webhook refused: unsigned',
        );
        return sendError(
          req,
          reply,
          new AppError('VALIDATION_FAILED', 'Missing Stripe-Signature header or body'),
        );
      }
      let event: Stripe.Event;
      try {
        event = verifyWebhook(body, signature, secret);
      } catch (err) {
        req.log.warn(
          { ip: req.ip, userAgent: req.headers['user-agent'], reason: (err as Error).message },
          'Stripe webhook refused: signature verification failed',
        );
        return sendError(req, reply, new AppError('VALIDATION_FAILED', 'Invalid Stripe signature'));
      }
      if (!stripeEventShape.safeParse(event).success) {
        req.log.warn({ ip: req.ip }, 'Stripe webhook refused: signed, but not an event');
        return sendError(req, reply, new AppError('VALIDATION_FAILED', 'Not a Stripe event'));
      }
      const stored = await withDbScope(deps.em, undefined, (em) => storeVerifiedEvent(em, event));
      if (!stored.processed) {
        // New, or stored earlier but not processed yet (its job may have been lost with Redis): queue it. The job's
        // unique id makes this a no-op while one is already pending.
        await deps.queue.dispatch(stripeEventJob, { eventId: event.id }, { organizationId: null });
      }
      return reply.code(200).send({ received: true, duplicate: !stored.stored });
    });
  });
}
