import { createHash } from 'node:crypto';
import Stripe from 'stripe';
import { AppError } from '../../../shared/errors.ts';
import type { Config } from '../../config/env.ts';

/**
 * The Stripe API version Keel is written against, pinned so that a change of the account's default version (or an
 * SDK upgrade) cannot silently change the shape of the objects and events we read. It is the version the installed
 * SDK (stripe 23.1.0) is generated for; webhook endpoints must be created with the same version.
 */
export const STRIPE_API_VERSION = '2026-10-28.endive' satisfies Stripe.LatestApiVersion;

/** How long a webhook signature stays valid (Stripe's default and recommendation). */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

type BillingConfig = Config['billing'];

export interface StripeClientOptions {
  /** The SDK's own retries, which reuse the request's idempotency key. Default 2. */
  maxNetworkRetries?: number;
  timeoutMs?: number;
}

export function createStripeClient(billing: BillingConfig, opts: StripeClientOptions = {}): Stripe | null {
  if (!billing.stripeSecretKey) return null;
  const base = billing.stripeApiBase ? new URL(billing.stripeApiBase) : null;
  return new Stripe(billing.stripeSecretKey, {
    apiVersion: STRIPE_API_VERSION,
    maxNetworkRetries: opts.maxNetworkRetries ?? 2,
    timeout: opts.timeoutMs ?? 20_000,
    telemetry: false,
    appInfo: { name: 'keel' },
    ...(base
      ? {
          host: base.hostname,
          port: base.port ? Number(base.port) : base.protocol === 'https:' ? 443 : 80,
          protocol: base.protocol === 'https:' ? 'https' : 'http',
        }
      : {}),
  });
}

const clients = new WeakMap<BillingConfig, Stripe | null>();

/** One client per configuration (the SDK keeps connections alive); null when no secret key is configured. */
export function stripeClientFor(config: Config): Stripe | null {
  if (!clients.has(config.billing)) clients.set(config.billing, createStripeClient(config.billing));
  return clients.get(config.billing) ?? null;
}

export function billingNotConfigured(): AppError {
  return new AppError(
    'SERVICE_UNAVAILABLE',
    'Billing is not configured on this server (STRIPE_SECRET_KEY is unset)',
    {
      reason: 'billing_not_configured',
    },
  );
}

/**
 * An idempotency key derived from what the request does, never from the clock: the same operation on the same state
 * with the same inputs gets the same key, so a retried request (by the SDK, the browser or the user) is answered
 * with the first response by Stripe instead of charging twice. Keys stay under Stripe's 255 characters.
 */
export function idempotencyKey(operation: string, parts: readonly unknown[]): string {
  const digest = createHash('sha256')
    .update(JSON.stringify([operation, ...parts]))
    .digest('hex');
  return `keel:${operation}:${digest.slice(0, 48)}`;
}

/** Stripe's errors as Keel's: clients see a typed code, never the SDK's internals. */
export function toAppError(err: unknown): unknown {
  if (!(err instanceof Stripe.errors.StripeError)) return err;
  const message = err.message || 'Stripe refused the request';
  switch (err.type) {
    case 'StripeCardError':
      return new AppError('PAYMENT_REQUIRED', message, {
        stripeCode: err.code,
        declineCode: err.decline_code,
      });
    case 'StripeIdempotencyError':
      return new AppError('CONFLICT', 'This request was already made with different parameters', {
        stripeCode: err.code,
      });
    case 'StripeInvalidRequestError':
      if (err.statusCode === 404) return new AppError('NOT_FOUND', message, { stripeCode: err.code });
      return new AppError('VALIDATION_FAILED', message, { stripeCode: err.code, param: err.param });
    case 'StripeRateLimitError':
      return new AppError('RATE_LIMITED', 'Stripe is rate limiting requests; try again shortly', {
        retryAfter: 2,
      });
    default:
      return new AppError('SERVICE_UNAVAILABLE', 'Stripe could not be reached; try again', {
        stripeType: err.type,
      });
  }
}

export async function callStripe<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toAppError(err);
  }
}

/** Verifies a webhook's signature on its raw bytes; throws the SDK's signature error when it does not hold. */
export function verifyWebhook(rawBody: Buffer, signature: string, secret: string): Stripe.Event {
  return Stripe.webhooks.constructEvent(rawBody, signature, secret, WEBHOOK_TOLERANCE_SECONDS);
}

export type { Stripe };
