import { until } from '../../../test/until.ts';
import Stripe from 'stripe';
import type { AppDeps } from '../../../app-deps.ts';
import { withDbScope } from '../../../platform/db/context.ts';
import { startSmtpCapture, type SmtpCapture } from '../../../platform/mail/testing/smtp-capture.ts';
import { Worker } from '../../../platform/queue/worker.ts';
import { createTestEnv, startServer, type RunningServer, type TestEnv } from '../../../test/harness.ts';
import { StripeEvent } from '../billing.entity.ts';
import { StripeTestServer } from '../sandbox/stripe-server.ts';

export const WEBHOOK_SECRET = 'whsec_keeltestsecret';
export const PLANS = {
  price_basic: { name: 'Basic', tier: 'professional', limits: { members: 10 } },
  price_pro: { name: 'Pro', tier: 'professional', limits: { members: 50 } },
  price_enterprise: { name: 'Enterprise', tier: 'enterprise', limits: { members: -1 } },
} as const;

export interface BillingTestEnv {
  env: TestEnv;
  deps: AppDeps;
  stripe: StripeTestServer;
  server: RunningServer;
  worker: Worker;
  /** Every email Keel sent (dunning, trial), captured by a real SMTP server. */
  smtp: SmtpCapture;
  close(): Promise<void>;
}

/** A Stripe test server, app deps pointed at it, the HTTP app and a worker on the `webhooks` queue. */
export async function createBillingTestEnv(overrides: Record<string, string> = {}): Promise<BillingTestEnv> {
  const stripe = await new StripeTestServer().start();
  const smtp = await startSmtpCapture();
  const env = await createTestEnv({
    SMTP_URL: smtp.url,
    STRIPE_SECRET_KEY: stripe.secretKey,
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    STRIPE_API_BASE: stripe.url,
    STRIPE_PLANS: JSON.stringify(PLANS),
    ...overrides,
  });
  const server = await startServer(env.deps);
  const worker = new Worker(env.deps.queue, { queues: ['webhooks', 'mail'], concurrency: 4, leader: false });
  await worker.start();
  return {
    env,
    deps: env.deps,
    stripe,
    server,
    worker,
    smtp,
    async close() {
      await worker.stop(1_000);
      await server.close();
      await env.close();
      await stripe.close();
      await smtp.close();
    },
  };
}

/** Posts an event to /webhooks/stripe signed the way Stripe signs it. */
export function deliver(
  url: string,
  event: object,
  opts: { secret?: string; timestamp?: number; signature?: string } = {},
): Promise<Response> {
  const payload = JSON.stringify(event);
  const signature =
    opts.signature ??
    Stripe.webhooks.generateTestHeaderString({
      payload,
      secret: opts.secret ?? WEBHOOK_SECRET,
      ...(opts.timestamp !== undefined ? { timestamp: opts.timestamp } : {}),
    });
  return fetch(`${url}/webhooks/stripe`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stripe-signature': signature },
    body: payload,
  });
}

// The one polling helper of the tests, re-exported for the billing tests that import it from here.
export { until };

export function storedEvent(deps: AppDeps, eventId: string) {
  return withDbScope(deps.em, undefined, (em) => em.findOne(StripeEvent, { id: eventId }));
}

/** Delivers events in the given order and waits until each is processed. */
export async function deliverAndProcess(t: BillingTestEnv, events: object[]): Promise<void> {
  for (const event of events) {
    const res = await deliver(t.server.url, event);
    if (res.status !== 200) throw new Error(`webhook answered ${res.status}: ${await res.text()}`);
  }
  for (const event of events) {
    const eventId = (event as { id: string }).id;
    await until(async () => (await storedEvent(t.deps, eventId))?.processedAt, `processing of ${eventId}`);
  }
}
