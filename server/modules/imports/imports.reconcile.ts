import { withDbScope } from '../../platform/db/context.ts';
import { TENANT_FILTER } from '../../platform/db/tenant-filter.ts';
import {
  reconcileQueuedWork,
  type JobRef,
  type QueuedWork,
  type ReconcileResult,
} from '../../platform/queue/reconcile.ts';
import { CALLBACK_JOB } from '../../platform/queue/registry.ts';
import type { DataServices } from '../notifications/notifications.service.ts';
import { DataImport, type IDataImport } from './import.entity.ts';
import {
  abandonImport,
  fileStepFailed,
  IMPORT_STEPS,
  queueImport,
  summarizeBatch,
} from './imports.service.ts';

/**
 * A batch whose files have all been done this long without its summary has lost its queue record (its finally
 * callback runs seconds after its last file): the reconciler sends the summary.
 */
const BATCH_SUMMARY_GRACE_MS = 5 * 60_000;
/** An import still not done this long after it was started fails instead of being queued again. */
const GIVE_UP_AFTER_MS = 6 * 3_600_000;
const CHAIN = [IMPORT_STEPS.validate, IMPORT_STEPS.import, IMPORT_STEPS.report, IMPORT_STEPS.notify];

/**
 * Imports as queued work. A file of a batch has one job (its process-file job); any other import is a chain whose
 * steps have the ids `chain:<jobId>:<n>`, and whose failure queues `chain:<jobId>:catch`: it is alive while the
 * queue has any of them.
 */
function importWork(s: DataServices, graceMs: number): QueuedWork<IDataImport> {
  const queueOf = (job: string) => s.queue.registry.get(job)?.queue ?? 'default';
  return {
    what: 'imports',
    candidates: (em, now) =>
      em.find(
        DataImport,
        // startedAt is when the import was queued (imports.start / imports.startBatch).
        {
          status: { $in: ['queued', 'validating', 'importing'] },
          startedAt: { $lt: new Date(now - graceMs) },
        },
        { filters: { [TENANT_FILTER]: false }, orderBy: { createdAt: 'asc' }, limit: 500 },
      ),
    jobsOf(row): JobRef[] {
      if (!row.jobId) return [];
      if (row.batchId) return [{ queue: queueOf(IMPORT_STEPS.file), id: row.jobId }];
      return [
        ...CHAIN.map((job, n) => ({ queue: queueOf(job), id: `chain:${row.jobId}:${n}` })),
        { queue: queueOf(CALLBACK_JOB), id: `chain:${row.jobId}:catch` },
      ];
    },
    reload: (em, row) => em.findOne(DataImport, { id: row.id }, { refresh: true }),
    tooOld: (row, now) => now - (row.startedAt ?? row.createdAt).getTime() > GIVE_UP_AFTER_MS,
    // Its job (a batch's file) or its chain's catch callback failed for good while the database was unreachable.
    failedInQueue: (em, row) =>
      row.batchId ? fileStepFailed(s, em, row.id) : abandonImport(s, em, row, 'The import job failed'),
    fail: (em, row) =>
      abandonImport(s, em, row, 'Lost from the queue (Redis lost its data) and too old to run again'),
    requeue: (em, row) => queueImport(s, em, row),
  };
}

/**
 * Imports whose jobs Redis lost: a row queued or being processed for over `graceMs` none of whose jobs the queue
 * has is queued again (resuming at its step), or failed once it is older than six hours; a row whose job failed for
 * good without the row recording it is failed. Then batches whose files are all done but whose summary never went
 * out (the queue's batch, and with it the finally callback, was lost) get their summary, once.
 */
export async function reconcileImports(
  s: DataServices,
  opts: { graceMs?: number; batchGraceMs?: number; now?: number } = {},
): Promise<ReconcileResult & { summarized: string[] }> {
  const now = opts.now ?? Date.now();
  const rows = await reconcileQueuedWork(s, importWork(s, opts.graceMs ?? 60_000), now);
  const summarized = await summarizeLostBatches(s, opts.batchGraceMs ?? BATCH_SUMMARY_GRACE_MS, now);
  return { ...rows, summarized };
}

async function summarizeLostBatches(s: DataServices, graceMs: number, now: number): Promise<string[]> {
  // Across every organization (no tenant: the owner's session, which row-level security does not narrow).
  const batches = await withDbScope(s.em, undefined, (em) =>
    em.getConnection().execute<{ batch_id: string; organization_id: string }[]>(
      `select batch_id, organization_id from imports
       where batch_id is not null and batch_summarized_at is null
       group by batch_id, organization_id
       having bool_and(status in ('completed', 'invalid', 'failed'))
          and coalesce(max(finished_at), max(created_at)) < ?
       limit 100`,
      [new Date(now - graceMs)],
    ),
  );
  const sent: string[] = [];
  for (const b of batches) {
    const done = await withDbScope(s.em, b.organization_id, (em) => summarizeBatch(s, em, b.batch_id));
    if (done) sent.push(b.batch_id);
  }
  if (sent.length) {
    s.logger.warn(
      { batches: sent },
      'import batches summarized by the reconciler: their queue records were lost',
    );
  }
  return sent;
}
