import { setTimeout as sleep } from 'node:timers/promises';
import { tracked } from '@trpc/server';
import {
  batchIdInput,
  batchListInput,
  bulkInput,
  bulkPreviewInput,
  failedListInput,
  jobIdInput,
  jobListInput,
  jobSearchInput,
  metricsInput,
  pruneInput,
  queueInput,
  retryManyInput,
  waitingInput,
} from '../../../shared/schemas/jobs.ts';
import { AppError } from '../../../shared/errors.ts';
import type { JsonValue } from '../../../shared/schemas/flags.ts';
import type { OpsTargetType } from '../../../shared/schemas/ops.ts';
import type { Em } from '../../platform/db/context.ts';
import { router } from '../../trpc/init.ts';
import { opsProcedure } from '../../trpc/procedures.ts';
import {
  forgetFailedJob,
  jobDetail,
  jobList,
  listFailedJobs,
  pruneFailedJobs,
  queueOverview,
  retryFailedJob,
  retryFailedJobs,
} from './jobs.service.ts';
import { operatorOf, recordOperatorAction } from '../ops/ops-audit.ts';
import { queueTenants } from './queue-tenants.ts';
import { bulkAct, bulkPreview, searchJobs } from './job-search.service.ts';
import { openLive } from '../realtime/live.ts';

// Staff procedures of the operations console. Every write that succeeded goes to the operator audit log.

/** Queue operations are Redis writes: the audit entry is written once they succeeded. */
function audit(
  ctx: { em: Em; auth: { user: { id: string; email: string } }; requestId: string },
  action: string,
  targetType: OpsTargetType,
  targetId: string | null,
  details: Record<string, JsonValue> = {},
): Promise<number> {
  return recordOperatorAction(ctx.em, {
    operator: operatorOf(ctx),
    action,
    targetType,
    targetId,
    details,
    requestId: ctx.requestId,
  });
}

export const opsQueuesRouter = router({
  list: opsProcedure.query(({ ctx }) => queueOverview(ctx.em, ctx.deps.queue)),
  metrics: opsProcedure.input(metricsInput).query(({ ctx, input }) => ctx.deps.queue.metrics.series(input)),
  /** Waiting jobs and running slots per organization in one queue (ADR 0024). */
  tenants: opsProcedure
    .input(queueInput)
    .query(({ ctx, input }) => queueTenants(ctx.em, ctx.deps.queue, input.queue)),
  pause: opsProcedure.input(queueInput).mutation(async ({ ctx, input }) => {
    await ctx.deps.queue.pause(input.queue);
    await audit(ctx, 'queue.pause', 'queue', input.queue);
    return { queue: input.queue, paused: true };
  }),
  resume: opsProcedure.input(queueInput).mutation(async ({ ctx, input }) => {
    await ctx.deps.queue.resume(input.queue);
    await audit(ctx, 'queue.resume', 'queue', input.queue);
    return { queue: input.queue, paused: false };
  }),
  /** Queues, workers and the last minutes' rates every two seconds, for the console's live view. */
  live: opsProcedure.subscription(async ({ ctx, signal }) => {
    const live = await openLive(ctx, { signal, staffOnly: true });
    const { em } = ctx;
    const { queue } = ctx.deps;
    // State, not history: every (re)subscription starts with a full snapshot.
    return live.run(async function* (signal) {
      let seq = 0;
      while (!signal.aborted) {
        const [queues, workers] = await Promise.all([queueOverview(em, queue), queue.workers()]);
        yield tracked(String(++seq), { at: new Date(), queues, workers });
        // Rejects (AbortError) when the subscription ends; the loop then stops.
        await sleep(2_000, undefined, { signal }).catch(() => undefined);
      }
    });
  }),
});

export const opsJobsRouter = router({
  list: opsProcedure
    .input(jobListInput)
    .query(({ ctx, input }) => jobList(ctx.deps.queue, input.list, input.limit, input.offset, input.tag)),
  /** Jobs waiting in a queue, next to run first (read from bee-queue's own lists). */
  waiting: opsProcedure
    .input(waitingInput)
    .query(({ ctx, input }) => ctx.deps.queue.index.waiting(input.queue, input)),
  get: opsProcedure.input(jobIdInput).query(({ ctx, input }) => jobDetail(ctx.deps.queue, input.id)),
  failed: opsProcedure
    .input(failedListInput)
    .query(({ ctx, input }) =>
      listFailedJobs(ctx.em, ctx.deps.queue, input.filter, input.limit, input.offset),
    ),
  retry: opsProcedure.input(jobIdInput).mutation(async ({ ctx, input }) => {
    const r = await retryFailedJob(ctx.em, ctx.deps.queue, input.id);
    await audit(ctx, 'job.retry', 'job', input.id);
    return r;
  }),
  retryMany: opsProcedure.input(retryManyInput).mutation(async ({ ctx, input }) => {
    const r = await retryFailedJobs(
      ctx.em,
      ctx.deps.queue,
      'ids' in input ? { ids: input.ids } : { filter: input.filter, limit: input.limit },
    );
    await audit(ctx, 'job.retryMany', 'job', null, {
      ...('ids' in input ? {} : { filter: JSON.parse(JSON.stringify(input.filter)) as JsonValue }),
      count: r.retried.length,
      ids: r.retried.slice(0, 100),
    });
    return r;
  }),
  forget: opsProcedure.input(jobIdInput).mutation(async ({ ctx, input }) => {
    const r = await forgetFailedJob(ctx.em, ctx.deps.queue, input.id);
    await audit(ctx, 'job.forget', 'job', input.id);
    return r;
  }),
  prune: opsProcedure.input(pruneInput).mutation(async ({ ctx, input }) => {
    const r = await pruneFailedJobs(ctx.em, input.olderThanDays);
    await audit(ctx, 'job.prune', 'job', null, { olderThanDays: input.olderThanDays, ...r });
    return r;
  }),
  /** Jobs in any state by type, organization, tag, declared payload field and time, newest first (ADR 0026). */
  search: opsProcedure.input(jobSearchInput).query(({ ctx, input }) => searchJobs(ctx.deps.queue, input)),
  /** How many jobs a bulk action would take, and the one-time token that confirms it (a read: not audited). */
  bulkPreview: opsProcedure
    .input(bulkPreviewInput)
    .mutation(({ ctx, input }) => bulkPreview(ctx.deps.queue, ctx.auth.user.id, input)),
  bulk: opsProcedure.input(bulkInput).mutation(async ({ ctx, input }) => {
    const r = await bulkAct(ctx.em, ctx.deps.queue, ctx.auth.user.id, input);
    const bulkAction = {
      retry: 'job.bulkRetry',
      cancel: 'job.bulkCancel',
      delete: 'job.bulkDelete',
    } as const;
    await audit(ctx, bulkAction[input.action], 'job', null, {
      filter: JSON.parse(JSON.stringify(input.filter)) as JsonValue,
      count: r.count,
      done: r.done,
      skipped: r.skipped,
      ids: r.ids,
    });
    return r;
  }),
});

export const opsBatchesRouter = router({
  list: opsProcedure
    .input(batchListInput)
    .query(({ ctx, input }) => ctx.deps.queue.listBatches(input.offset, input.limit)),
  get: opsProcedure.input(batchIdInput).query(async ({ ctx, input }) => {
    const batch = await ctx.deps.queue.getBatch(input.id);
    if (!batch) throw new AppError('NOT_FOUND', `No batch ${input.id}`);
    return batch;
  }),
  cancel: opsProcedure.input(batchIdInput).mutation(async ({ ctx, input }) => {
    const r = await ctx.deps.queue.cancelBatch(input.id);
    await audit(ctx, 'batch.cancel', 'batch', input.id);
    return r;
  }),
  retryFailed: opsProcedure.input(batchIdInput).mutation(async ({ ctx, input }) => {
    const ids = await ctx.deps.queue.retryBatchFailures(input.id);
    await audit(ctx, 'batch.retryFailed', 'batch', input.id, { count: ids.length });
    return { retried: ids };
  }),
});

export const opsWorkersRouter = router({
  list: opsProcedure.query(({ ctx }) => ctx.deps.queue.workers()),
  terminate: opsProcedure.mutation(async ({ ctx }) => {
    const at = await ctx.deps.queue.terminateWorkers();
    await audit(ctx, 'workers.terminate', 'workers', null, { requestedAt: new Date(at).toISOString() });
    return { requestedAt: new Date(at) };
  }),
});
