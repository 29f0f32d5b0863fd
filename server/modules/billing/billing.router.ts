import { z } from 'zod';
import {
  billingOverviewOutput,
  cancelInput,
  opsSubscriptionListInput,
  portalInput,
  subscribeInput,
  subscribeOutput,
  subscriptionOutput,
  swapInput,
  webhookEventListInput,
} from '../../../shared/schemas/billing.ts';
import { router } from '../../trpc/init.ts';
import { billingProcedure, opsProcedure } from '../../trpc/procedures.ts';
import type { Tenant } from '../../trpc/middleware/tenant.ts';
import type { AppDeps } from '../../app-deps.ts';
import type { Em } from '../../platform/db/context.ts';
import {
  cancel,
  openPortal,
  overview,
  resume,
  retryInvoice,
  subscribe,
  swap,
  syncCustomer,
  type BillingContext,
} from './billing.service.ts';
import { listAllSubscriptions, listWebhookEvents, replayWebhookEvent } from './billing.ops.ts';
import { failNextPayment, settled } from './sandbox/sandbox.service.ts';
import { stripeClientFor } from './stripe.ts';

const billing = (ctx: { em: Em; deps: AppDeps; tenant: Tenant }): BillingContext => ({
  em: ctx.em,
  config: ctx.deps.config,
  stripe: stripeClientFor(ctx.deps.config),
  organizationId: ctx.tenant.organization.id,
  sandbox: ctx.deps.billingSandbox !== null,
});

/** In the billing sandbox a change returns once its webhooks are processed (see `settled`). */
const change = <T>(ctx: { deps: AppDeps }, operation: () => Promise<T>) =>
  settled(ctx.deps.billingSandbox, ctx.deps.em, operation);

export const billingRouter = router({
  overview: billingProcedure.output(billingOverviewOutput).query(({ ctx }) => overview(billing(ctx))),

  syncCustomer: billingProcedure
    .output(z.object({ customerId: z.string() }))
    .mutation(({ ctx }) => change(ctx, () => syncCustomer(billing(ctx)))),

  subscribe: billingProcedure
    .input(subscribeInput)
    .output(subscribeOutput)
    .mutation(({ ctx, input }) => change(ctx, () => subscribe(billing(ctx), input))),

  cancel: billingProcedure
    .input(cancelInput)
    .output(subscriptionOutput)
    .mutation(({ ctx, input }) => change(ctx, () => cancel(billing(ctx), input.when))),

  resume: billingProcedure
    .output(subscriptionOutput)
    .mutation(({ ctx }) => change(ctx, () => resume(billing(ctx)))),

  swap: billingProcedure
    .input(swapInput)
    .output(subscriptionOutput)
    .mutation(({ ctx, input }) => change(ctx, () => swap(billing(ctx), input))),

  retryInvoice: billingProcedure
    .output(z.object({ invoiceId: z.string(), status: z.string().nullable() }))
    .mutation(({ ctx }) => change(ctx, () => retryInvoice(billing(ctx)))),

  portal: billingProcedure
    .input(portalInput)
    .output(z.object({ url: z.string() }))
    .mutation(({ ctx, input }) => openPortal(billing(ctx), input.returnUrl)),

  /** Only while the billing sandbox runs (refused otherwise): what Stripe's test clock and test cards would do. */
  sandbox: router({
    failNextPayment: billingProcedure
      .output(z.object({ invoiceId: z.string(), attempt: z.number() }))
      .mutation(({ ctx }) => failNextPayment(ctx.deps.billingSandbox, ctx.deps.em, ctx.em, ctx.tenant.role)),
  }),
});

/** `ops.billing`: the Stripe webhook log with replay, and subscriptions across tenants (staff only). */
export const opsBillingRouter = router({
  events: router({
    list: opsProcedure
      .input(webhookEventListInput)
      .query(({ ctx, input }) => listWebhookEvents(ctx.em, input)),
    replay: opsProcedure
      .input(z.object({ eventId: z.string().trim().min(1).max(255) }).strict())
      .mutation(({ ctx, input }) =>
        replayWebhookEvent(ctx.em, ctx.deps.queue, ctx.deps.logger, input.eventId, ctx.auth.user.id),
      ),
  }),
  subscriptions: router({
    list: opsProcedure
      .input(opsSubscriptionListInput)
      .query(({ ctx, input }) => listAllSubscriptions(ctx.em, ctx.deps.logger, ctx.auth.user.id, input)),
  }),
});
