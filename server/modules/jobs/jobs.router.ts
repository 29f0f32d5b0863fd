import { tracked } from '@trpc/server';
import {
  batchIdInput,
  batchListInput,
  failedListInput,
  jobIdInput,
  jobListInput,
  metricsInput,
  pruneInput,
  queueInput,
  retryManyInput,
  waitingInput,
} from '../../../shared/schemas/jobs.ts';
import { AppError } from '../../../shared/errors.ts';
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

// Staff procedures of the operations console. Every write is logged with the staff user (the audit trail).

export const opsQueuesRouter = router({
  list: opsProcedure.query(({ ctx }) => queueOverview(ctx.em, ctx.deps.queue)),
  metrics: opsProcedure.input(metricsInput).query(({ ctx, input }) => ctx.deps.queue.metrics.series(input)),
  pause: opsProcedure.input(queueInput).mutation(async ({ ctx, input }) => {
    await ctx.deps.queue.pause(input.queue);
    ctx.deps.logger.info(
      { audit: 'queue.pause', staff: ctx.auth.user.id, queue: input.queue },
      'queue paused',
    );
    return { queue: input.queue, paused: true };
  }),
  resume: opsProcedure.input(queueInput).mutation(async ({ ctx, input }) => {
    await ctx.deps.queue.resume(input.queue);
    ctx.deps.logger.info(
      { audit: 'queue.resume', staff: ctx.auth.user.id, queue: input.queue },
      'queue resumed',
    );
    return { queue: input.queue, paused: false };
  }),
  /** Queues, workers and the last minutes' rates every two seconds, for the console's live view. */
  live: opsProcedure.subscription(async function* ({ ctx, signal }) {
    let seq = 0;
    while (!signal?.aborted) {
      const [queues, workers] = await Promise.all([
        queueOverview(ctx.em, ctx.deps.queue),
        ctx.deps.queue.workers(),
      ]);
      yield tracked(String(++seq), { at: new Date(), queues, workers });
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 2_000);
        signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
      });
    }
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
    .query(({ ctx, input }) => listFailedJobs(ctx.em, input.filter, input.limit, input.offset)),
  retry: opsProcedure.input(jobIdInput).mutation(async ({ ctx, input }) => {
    const r = await retryFailedJob(ctx.em, ctx.deps.queue, input.id);
    ctx.deps.logger.info(
      { audit: 'job.retry', staff: ctx.auth.user.id, jobId: input.id },
      'failed job retried',
    );
    return r;
  }),
  retryMany: opsProcedure.input(retryManyInput).mutation(async ({ ctx, input }) => {
    const r = await retryFailedJobs(
      ctx.em,
      ctx.deps.queue,
      'ids' in input ? { ids: input.ids } : { filter: input.filter, limit: input.limit },
    );
    ctx.deps.logger.info(
      { audit: 'job.retryMany', staff: ctx.auth.user.id, count: r.retried.length },
      'failed jobs retried',
    );
    return r;
  }),
  forget: opsProcedure.input(jobIdInput).mutation(async ({ ctx, input }) => {
    const r = await forgetFailedJob(ctx.em, ctx.deps.queue, input.id);
    ctx.deps.logger.info(
      { audit: 'job.forget', staff: ctx.auth.user.id, jobId: input.id },
      'failed job forgotten',
    );
    return r;
  }),
  prune: opsProcedure.input(pruneInput).mutation(async ({ ctx, input }) => {
    const r = await pruneFailedJobs(ctx.em, input.olderThanDays);
    ctx.deps.logger.info(
      { audit: 'job.prune', staff: ctx.auth.user.id, ...input, ...r },
      'failed jobs pruned',
    );
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
    ctx.deps.logger.info(
      { audit: 'batch.cancel', staff: ctx.auth.user.id, batchId: input.id },
      'batch cancelled',
    );
    return r;
  }),
  retryFailed: opsProcedure.input(batchIdInput).mutation(async ({ ctx, input }) => {
    const ids = await ctx.deps.queue.retryBatchFailures(input.id);
    ctx.deps.logger.info(
      { audit: 'batch.retry', staff: ctx.auth.user.id, batchId: input.id, count: ids.length },
      'batch failures retried',
    );
    return { retried: ids };
  }),
});

export const opsWorkersRouter = router({
  list: opsProcedure.query(({ ctx }) => ctx.deps.queue.workers()),
  terminate: opsProcedure.mutation(async ({ ctx }) => {
    const at = await ctx.deps.queue.terminateWorkers();
    ctx.deps.logger.info({ audit: 'workers.terminate', staff: ctx.auth.user.id }, 'workers asked to restart');
    return { requestedAt: new Date(at) };
  }),
});
