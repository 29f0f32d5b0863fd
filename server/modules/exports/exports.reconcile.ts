import { TENANT_FILTER } from '../../platform/db/tenant-filter.ts';
import { isQueueName } from '../../platform/queue/definition.ts';
import {
  reconcileQueuedWork,
  type QueuedWork,
  type ReconcileResult,
} from '../../platform/queue/reconcile.ts';
import type { DataServices } from '../notifications/notifications.service.ts';
import { DataExport, type IDataExport } from './export.entity.ts';
import { EXPORT_JOB, failExport } from './exports.service.ts';

/**
 * A running export whose job Redis lost may still be running in its worker until the job's timeout (30 min) aborts
 * it: only then is it queued again.
 */
const RUNNING_LOST_AFTER_MS = 31 * 60_000;
/** An export still not done this long after its request fails instead of being queued again (the job's retryUntil). */
const GIVE_UP_AFTER_MS = 6 * 3_600_000;

/** Exports as queued work: one job each, `exports.run` on the queue of the organization's tier. */
function exportWork(s: DataServices, graceMs: number): QueuedWork<IDataExport> {
  return {
    what: 'exports',
    candidates: (em, now) =>
      em.find(
        DataExport,
        {
          $or: [
            { status: 'queued', createdAt: { $lt: new Date(now - graceMs) } },
            // Running past the grace: its job may have failed for good without the row hearing of it.
            { status: 'running', startedAt: { $lt: new Date(now - graceMs) } },
          ],
        },
        { filters: { [TENANT_FILTER]: false }, orderBy: { createdAt: 'asc' }, limit: 500 },
      ),
    jobsOf: (row) => (row.jobId ? [{ queue: row.queue, id: row.jobId }] : []),
    reload: (em, row) => em.findOne(DataExport, { id: row.id }, { refresh: true }),
    tooOld: (row, now) => now - row.createdAt.getTime() > GIVE_UP_AFTER_MS,
    mayStillRun: (row, now) =>
      row.status === 'running' && (row.startedAt?.getTime() ?? 0) > now - RUNNING_LOST_AFTER_MS,
    // The reason the last attempt recorded, if it could, else EXPORT_FAILED (the job's own error is internal).
    failedInQueue: (em, row) => failExport(s, em, row.id),
    fail: (em, row) =>
      failExport(s, em, row.id, 'Lost from the queue (Redis lost its data) and too old to run again'),
    async requeue(em, row) {
      const organizationId = row.organization.id;
      const dispatched = await s.queue.dispatch(
        EXPORT_JOB,
        { exportId: row.id, organizationId },
        { queue: isQueueName(row.queue) ? row.queue : 'default', organizationId, tags: [`export:${row.id}`] },
      );
      row.jobId = dispatched.id;
      row.status = 'queued';
      await em.flush();
    },
  };
}

/**
 * Exports whose jobs failed for good without the row recording it (PostgreSQL was down during the last attempt and
 * its `failed()` hook) are failed; exports whose jobs Redis lost (a row queued for over `graceMs`, or running past
 * its job's timeout, whose job the queue no longer has) are queued again under a new job, or failed once older than
 * the job's retry window.
 */
export function reconcileExports(
  s: DataServices,
  opts: { graceMs?: number; now?: number } = {},
): Promise<ReconcileResult> {
  return reconcileQueuedWork(s, exportWork(s, opts.graceMs ?? 60_000), opts.now);
}
