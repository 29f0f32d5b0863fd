import { AppError } from '../../../shared/errors.ts';
import { withDbScope, type Em } from '../../platform/db/context.ts';
import type { Logger } from '../../platform/logger/logger.ts';
import {
  QUEUE_NAMES,
  isQueueName,
  type AnyJobDefinition,
  type QueueName,
} from '../../platform/queue/definition.ts';
import type { Envelope } from '../../platform/queue/envelope.ts';
import type { JobList } from '../../platform/queue/job-index.ts';
import { redactPayload } from '../../platform/queue/sensitive.ts';
import type { FailedJobRecord, FailedJobSink, QueueSystem } from '../../platform/queue/system.ts';
import { FailedJob, type IFailedJob } from './failed-job.entity.ts';

// The operations side of the job system. failed_jobs is staff-only operations data (see the entity), so these
// functions read across tenants on purpose; the ops router is their only caller and logs each write.

/** The PostgreSQL failed-job store the queue system writes to. */
export function failedJobStore(rootEm: Em, logger: Logger): FailedJobSink {
  return {
    async record(f: FailedJobRecord) {
      await withDbScope(rootEm, undefined, (em) =>
        em.upsert(FailedJob, {
          id: f.id,
          queue: f.queue,
          name: f.name,
          organization: f.organizationId,
          batchId: f.batchId,
          payload: f.payload ?? null,
          envelope: f.envelope as unknown as Record<string, unknown>,
          error: f.error,
          attempts: f.attempts,
          failedAt: f.failedAt,
        }),
      );
      logger.warn({ jobId: f.id, job: f.name, queue: f.queue, attempts: f.attempts }, 'job failed');
    },
    async forget(ids: string[]) {
      if (!ids.length) return;
      await withDbScope(rootEm, undefined, (em) => em.nativeDelete(FailedJob, { id: { $in: ids } }));
    },
  };
}

export interface FailedJobFilter {
  queue?: string | undefined;
  name?: string | undefined;
  organizationId?: string | undefined;
  search?: string | undefined;
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

function whereOf(f: FailedJobFilter) {
  return {
    ...(f.queue ? { queue: f.queue } : {}),
    ...(f.name ? { name: f.name } : {}),
    ...(f.organizationId ? { organization: f.organizationId } : {}),
    ...(f.search ? { error: { $ilike: `%${escapeLike(f.search)}%` } } : {}),
  };
}

/** A row as staff see it: the definition's sensitive fields redacted (the row keeps them, for a retry). */
export function toFailedOutput(
  row: IFailedJob,
  definitionOf: (name: string) => AnyJobDefinition | undefined,
) {
  return {
    id: row.id,
    queue: row.queue,
    name: row.name,
    organizationId: row.organization?.id ?? null,
    batchId: row.batchId ?? null,
    payload: JSON.stringify(redactPayload(definitionOf(row.name), row.payload)),
    error: row.error,
    attempts: row.attempts,
    failedAt: row.failedAt,
  };
}

export async function listFailedJobs(
  em: Em,
  queue: QueueSystem,
  filter: FailedJobFilter,
  limit: number,
  offset: number,
) {
  const [rows, total] = await em.findAndCount(FailedJob, whereOf(filter), {
    orderBy: { failedAt: 'desc' },
    limit,
    offset,
  });
  return { total, items: rows.map((r) => toFailedOutput(r, (name) => queue.registry.get(name))) };
}

/** Queues a failed job again (same id, fresh attempts) and removes it from the store. */
export async function retryFailedJob(em: Em, queue: QueueSystem, id: string): Promise<{ id: string }> {
  const row = await em.findOne(FailedJob, { id });
  if (!row) throw new AppError('NOT_FOUND', `No failed job ${id}`);
  if (!isQueueName(row.queue)) throw new AppError('VALIDATION_FAILED', `Unknown queue "${row.queue}"`);
  await queue.redispatch(row.id, row.queue, row.envelope as unknown as Envelope);
  await em.nativeDelete(FailedJob, { id });
  return { id };
}

/** Retries the given ids, or every failed job matching the filter (at most `limit` per call). */
export async function retryFailedJobs(
  em: Em,
  queue: QueueSystem,
  target: { ids: string[] } | { filter: FailedJobFilter; limit: number },
): Promise<{ retried: string[]; missing: string[] }> {
  const ids =
    'ids' in target
      ? target.ids
      : (
          await em.find(FailedJob, whereOf(target.filter), {
            fields: ['id'],
            orderBy: { failedAt: 'asc' },
            limit: target.limit,
          })
        ).map((r) => r.id);
  const retried: string[] = [];
  const missing: string[] = [];
  for (const id of ids) {
    try {
      await retryFailedJob(em, queue, id);
      retried.push(id);
    } catch (err) {
      if (err instanceof AppError && err.code === 'NOT_FOUND') missing.push(id);
      else throw err;
    }
  }
  return { retried, missing };
}

export async function forgetFailedJob(
  em: Em,
  queue: QueueSystem,
  id: string,
): Promise<{ forgotten: boolean }> {
  const n = await em.nativeDelete(FailedJob, { id });
  await queue.index.forget(id);
  return { forgotten: n > 0 };
}

export async function pruneFailedJobs(em: Em, olderThanDays: number): Promise<{ deleted: number }> {
  const cutoff = new Date(Date.now() - olderThanDays * 24 * 3600_000);
  return { deleted: await em.nativeDelete(FailedJob, { failedAt: { $lt: cutoff } }) };
}

/** Every queue's counts, failures, paused flag, concurrency across live workers and the last minute's rates. */
export async function queueOverview(em: Em, queue: QueueSystem) {
  const [counts, workers, series, failedRows] = await Promise.all([
    queue.counts(),
    queue.workers(),
    queue.metrics.series({ minutes: 2 }),
    em
      .getConnection()
      .execute<{ queue: string; n: string }[]>(
        'select queue, count(*)::text as n from failed_jobs group by queue',
      ),
  ]);
  const failed = new Map(failedRows.map((r) => [r.queue, Number(r.n)]));
  return counts.map((c) => {
    let concurrency = 0;
    let running = 0;
    for (const w of workers) {
      for (const s of w.supervisors) {
        for (const q of s.queues) {
          if (q.queue === c.queue) {
            concurrency += q.concurrency;
            running += q.running;
          }
        }
      }
    }
    // The last complete minute.
    let processed = 0;
    let failedLastMinute = 0;
    let waitP95 = 0;
    let runtimeP95 = 0;
    for (const t of series.filter((s) => s.queue === c.queue)) {
      const m = t.minutes[0];
      if (!m) continue;
      processed += m.processed;
      failedLastMinute += m.failed;
      waitP95 = Math.max(waitP95, m.wait.p95);
      runtimeP95 = Math.max(runtimeP95, m.runtime.p95);
    }
    return {
      ...c,
      failed: failed.get(c.queue) ?? 0,
      concurrency,
      running,
      jobsPerMinute: processed,
      failedPerMinute: failedLastMinute,
      waitP95Ms: waitP95,
      runtimeP95Ms: runtimeP95,
    };
  });
}

export async function jobList(
  queue: QueueSystem,
  list: JobList,
  limit: number,
  offset: number,
  tag?: string,
) {
  return queue.index.list(list, { limit, offset, tag });
}

export async function jobDetail(queue: QueueSystem, id: string) {
  const job = await queue.index.get(id);
  if (!job) throw new AppError('NOT_FOUND', `No job ${id} in the index`);
  const { envelope, ...summary } = job;
  return { ...summary, traceparent: envelope?.trace ?? null, chainId: envelope?.chain?.id ?? null };
}

/** Queue name check for inputs that arrive as strings (CLI). */
export function parseQueueName(s: string): QueueName {
  if (!isQueueName(s))
    throw new AppError('VALIDATION_FAILED', `Unknown queue "${s}" (one of ${QUEUE_NAMES.join(', ')})`);
  return s;
}
