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
import { abandonImport, fileStepFailed, IMPORT_STEPS, queueImport } from './imports.service.ts';

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
 * has is queued again (resuming at its step), or failed once it is older than six hours.
 */
export function reconcileImports(
  s: DataServices,
  opts: { graceMs?: number; now?: number } = {},
): Promise<ReconcileResult> {
  return reconcileQueuedWork(s, importWork(s, opts.graceMs ?? 60_000), opts.now);
}
