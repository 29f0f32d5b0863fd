import { withDbScope, type Em } from '../db/context.ts';
import type { Logger } from '../logger/logger.ts';
import type { QueueSystem } from './system.ts';

/** Where a job would be: bee's job hash of its queue keeps every job until it has finished. */
export interface JobRef {
  queue: string;
  id: string;
}

/**
 * What the reconciler reads of a row of queued work: its organization, and the state (status, job id) that must not
 * have changed between the two reads for it to act.
 */
export interface QueuedRow {
  id: string;
  organization: { id: string };
  status: string;
  jobId?: string | null;
}

/**
 * Rows of queued work (an export, an import) whose jobs live in Redis: what the reconciler needs to know of one
 * kind of them. The rows are read across organizations and changed under their own organization's scope.
 */
export interface QueuedWork<Row extends QueuedRow> {
  /** What the log line calls them ("exports"). */
  what: string;
  /** Rows that may have lost their jobs (queued or running for a while), read without a tenant. */
  candidates(em: Em, now: number): Promise<Row[]>;
  /** The jobs that carry the row's work; the row is left alone while the queue has any of them. */
  jobsOf(row: Row): JobRef[];
  /** The row again, fresh, in its organization's scope. */
  reload(em: Em, row: Row): Promise<Row | null>;
  /** Too old to run again: failed, with a clear reason, instead of queued again. */
  tooOld(row: Row, now: number): boolean;
  requeue(em: Em, row: Row): Promise<void>;
  fail(em: Em, row: Row): Promise<void>;
}

const stateOf = (row: QueuedRow) => `${row.status}:${row.jobId ?? ''}`;

export interface ReconcileResult {
  requeued: string[];
  failed: string[];
}

/**
 * Leader task: brings database rows of queued work and the queue back into agreement after Redis lost data (a
 * restart without persistence, a failover that lost writes). A candidate none of whose jobs the queue has is queued
 * again, or failed once it is too old, and the task logs what it did. A row whose job the queue still has (waiting,
 * delayed, active) is never touched, and a row is changed only if it is still in the state it was read in, so
 * nothing runs twice.
 */
export async function reconcileQueuedWork<Row extends QueuedRow>(
  deps: { em: Em; queue: QueueSystem; logger: Logger },
  work: QueuedWork<Row>,
  now = Date.now(),
): Promise<ReconcileResult> {
  const out: ReconcileResult = { requeued: [], failed: [] };
  // Across every organization: the fork has no tenant, so row-level security does not narrow it either.
  const candidates = await withDbScope(deps.em, undefined, (em) => work.candidates(em, now));
  if (!candidates.length) return out;
  const alive = await anyQueued(
    deps.queue,
    candidates.map((c) => work.jobsOf(c)),
  );
  for (const [i, c] of candidates.entries()) {
    if (alive[i]) continue;
    await withDbScope(deps.em, c.organization.id, async (em) => {
      const row = await work.reload(em, c);
      if (!row || stateOf(row) !== stateOf(c)) return;
      if (work.tooOld(row, now)) {
        await work.fail(em, row);
        out.failed.push(row.id);
      } else {
        await work.requeue(em, row);
        out.requeued.push(row.id);
      }
    });
  }
  if (out.requeued.length || out.failed.length) {
    deps.logger.warn(
      { requeued: out.requeued, failed: out.failed },
      `${work.what} reconciled with the queue: their jobs were lost`,
    );
  }
  return out;
}

/**
 * For each row, whether the queue has any of its jobs, read in one MULTI: a snapshot, so work moving from one job
 * to the next (a chain queues its next step before the current one leaves) is never seen between the two.
 */
async function anyQueued(queue: QueueSystem, rows: JobRef[][]): Promise<boolean[]> {
  const multi = queue.redis.multi();
  for (const refs of rows) for (const r of refs) multi.hexists(queue.keys.store(r.queue).jobs, r.id);
  const replies = (await multi.exec()) ?? [];
  let n = 0;
  return rows.map((refs) =>
    refs.reduce((found, _ref) => {
      const [err, reply] = replies[n++] ?? [null, 0];
      if (err) throw err;
      return found || reply === 1;
    }, false),
  );
}
