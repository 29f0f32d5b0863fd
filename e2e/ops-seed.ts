/**
 * Data for the operations console's end-to-end run: a worker on the `default` queue with a job that fails once,
 * failed jobs (three real ones and ten thousand synthetic old ones), a batch with a failure, Stripe webhook events
 * and a subscription. Everything goes through the same code paths production uses, except the synthetic rows.
 */
import { z } from 'zod';
import type { AppDeps } from '../server/deps.ts';
import { StripeEvent, Subscription } from '../server/modules/billing/billing.entity.ts';
import { Organization } from '../server/modules/tenancy/organization.entity.ts';
import { withDbScope } from '../server/platform/db/context.ts';
import { defineJob } from '../server/platform/queue/definition.ts';
import { Worker } from '../server/platform/queue/worker.ts';
import {
  ACME_PRICE,
  ARCHIVED_FAILURES,
  ARCHIVED_JOB,
  BATCH_NAME,
  FLAKY_INVOICES,
  FLAKY_JOB,
  STRIPE_EVENTS,
} from './ops-fixtures.ts';

const firstRuns = new Set<string>();

const flakyJob = defineJob({
  name: FLAKY_JOB,
  queue: 'default',
  tries: 1,
  payload: z.object({ invoice: z.number().int() }).strict(),
  tags: (p) => [`invoice:${p.invoice}`],
  handle: (payload, ctx) => {
    if (!firstRuns.has(ctx.id)) {
      firstRuns.add(ctx.id);
      throw new Error(`Upstream ledger timed out while syncing invoice ${payload.invoice}`);
    }
    return { synced: payload.invoice };
  },
});

export async function seedOpsConsole(deps: AppDeps): Promise<Worker> {
  const { acme, globex } = await withDbScope(deps.em, undefined, async (em) => {
    const orgs = await em.find(Organization, { slug: { $in: ['acme', 'globex'] } });
    const bySlug = new Map(orgs.map((o) => [o.slug, o.id]));
    return { acme: bySlug.get('acme')!, globex: bySlug.get('globex')! };
  });

  // Synthetic failures first, dated before the real ones, so the real ones head the list.
  await deps.em.getConnection().execute(
    `insert into failed_jobs (id, queue, name, organization_id, batch_id, payload, envelope, error, attempts, failed_at)
     select 'e2e-archived-' || n, 'low', ?, null, null, jsonb_build_object('export', n), '{}'::jsonb,
            'Error: export ' || n || ' exceeded the 5 GB limit' || chr(10) || '    at exportArchive (exports.ts:120:11)',
            3, now() - interval '1 day' - n * interval '1 second'
     from generate_series(1, ?) as n`,
    [ARCHIVED_JOB, ARCHIVED_FAILURES],
  );

  await withDbScope(deps.em, undefined, async (em) => {
    for (let i = 0; i < STRIPE_EVENTS; i++) {
      const at = new Date(Date.now() - (STRIPE_EVENTS - i) * 3_600_000);
      const type =
        i % 3 === 0
          ? 'invoice.payment_failed'
          : i % 3 === 1
            ? 'invoice.paid'
            : 'customer.subscription.updated';
      em.create(StripeEvent, {
        id: `evt_e2e_${String(i).padStart(4, '0')}`,
        type,
        objectId: `in_e2e_${i}`,
        organization: i % 2 ? acme : globex,
        apiVersion: '2025-01-27.acacia',
        livemode: false,
        stripeCreatedAt: at,
        payload: { id: `evt_e2e_${i}`, type },
        receivedAt: at,
        processedAt: i % 5 === 0 ? null : at,
        attempts: i % 5 === 0 ? 2 : 1,
        lastError: i % 5 === 0 ? 'Stripe API unreachable (ETIMEDOUT)' : null,
      });
    }
    await em.flush();
  });
  await withDbScope(deps.em, acme, async (em) => {
    em.create(Subscription, {
      organization: acme,
      stripeId: 'sub_e2e_acme',
      stripeCustomerId: 'cus_e2e_acme',
      stripePrice: ACME_PRICE,
      quantity: 5,
      stripeStatus: 'active',
      status: 'active',
      currentPeriodStart: new Date(Date.now() - 10 * 86_400_000),
      currentPeriodEnd: new Date(Date.now() + 20 * 86_400_000),
    });
    await em.flush();
  });

  deps.queue.registry.register(flakyJob);
  const worker = new Worker(deps.queue, { queues: ['default'], concurrency: 2 });
  await worker.start();
  for (const invoice of FLAKY_INVOICES) {
    await deps.queue.dispatch(flakyJob, { invoice }, { organizationId: acme });
  }
  await deps.queue.batch(
    [2001, 2002, 2003, 2004].map((invoice) => ({ job: flakyJob, payload: { invoice } })),
    { name: BATCH_NAME, organizationId: globex, allowFailures: true },
  );
  return worker;
}
