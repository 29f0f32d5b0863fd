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
  /**
   * Whether a worker may still be running the row's work although the queue has none of its jobs: Redis lost the
   * job's record while its attempt went on. Such a row is left alone (not queued a second time) until it says no.
   */
  mayStillRun?(row: Row, now: number): boolean;
  requeue(em: Em, row: Row): Promise<void>;
  fail(em: Em, row: Row): Promise<void>;
  /**
   * The queue failed the row's job for good (its index says so) but the row never recorded it: the job's `failed()`
   * hook could not reach the database (PostgreSQL was down during the last attempt). Records the final failure and
   * tells the requester, as the hook would have.
   */
  failedInQueue(em: Em, row: Row): Promise<void>;
}

const stateOf = (row: QueuedRow) => `${row.status}:${row.jobId ?? ''}`;

export interface ReconcileResult {
  requeued: string[];
  failed: string[];
  /** Rows whose jobs had failed for good without the row recording it, now failed. */
  finished: string[];
}

/** What the queue says of a row's jobs, read in one snapshot. */
interface QueueState {
  /** The queue still has one of its jobs (waiting, delayed, active): the row is left alone. */
  alive: boolean;
  /** One of its jobs ended as failed for good (the index keeps that record for its failed retention, 7 days). */
  failed: boolean;
}

/**
 * Leader task: brings database rows of queued work and the queue back into agreement. A candidate none of whose jobs
 * the queue has is either
 * - a row whose job failed for good while the database was unreachable (its `failed()` hook could not write): the
 *   job's index record says `failed`, and the row is failed now, so a last attempt that failed during a PostgreSQL
 *   outage is recorded by the first run after PostgreSQL is back (the task runs every minute) instead of waiting
 *   for a timeout; or
 * - a row whose job Redis lost (a restart without persistence, a failover that lost writes): no record either; it
 *   is queued again, or failed once it is too old, unless a worker may still be running it (`mayStillRun`).
 * The task logs what it did. A row whose job the queue still has (waiting, delayed, active) is never touched, and a
 * row is changed only if it is still in the state it was read in, so nothing runs twice.
 */
export async function reconcileQueuedWork<Row extends QueuedRow>(
  deps: { em: Em; queue: QueueSystem; logger: Logger },
  work: QueuedWork<Row>,
  now = Date.now(),
): Promise<ReconcileResult> {
  const out: ReconcileResult = { requeued: [], failed: [], finished: [] };
  // Across every organization: the fork has no tenant, so row-level security does not narrow it either.
  const candidates = await withDbScope(deps.em, undefined, (em) => work.candidates(em, now));
  if (!candidates.length) return out;
  const states = await queueStates(
    deps.queue,
    candidates.map((c) => work.jobsOf(c)),
  );
  for (const [i, c] of candidates.entries()) {
    const state = states[i];
    if (!state || state.alive) continue;
    if (!state.failed && work.mayStillRun?.(c, now)) continue;
    await withDbScope(deps.em, c.organization.id, async (em) => {
      const row = await work.reload(em, c);
      if (!row || stateOf(row) !== stateOf(c)) return;
      if (state.failed) {
        await work.failedInQueue(em, row);
        out.finished.push(row.id);
      } else if (work.tooOld(row, now)) {
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
  if (out.finished.length) {
    deps.logger.warn(
      { failed: out.finished },
      `${work.what} failed: their jobs had failed for good without the database recording it`,
    );
  }
  return out;
}

/**
 * For each row, whether the queue has any of its jobs and whether any of them failed for good, read in one MULTI: a
 * snapshot, so work moving from one job to the next (a chain queues its next step before the current one leaves) is
 * never seen between the two, and a job that fails writes its index record (the index failure listener, first in failure.ts) before it leaves the
 * queue's job hash, so a
 * failing job is seen as alive or as failed, never as neither.
 */
async function queueStates(queue: QueueSystem, rows: JobRef[][]): Promise<QueueState[]> {
  const multi = queue.redis.multi();
  for (const refs of rows) {
    for (const r of refs) multi.hexists(queue.keys.store(r.queue).jobs, r.id).get(queue.keys.job(r.id));
  }
  const replies = (await multi.exec()) ?? [];
  let n = 0;
  const next = (): unknown => {
    const [err, reply] = replies[n++] ?? [null, null];
    if (err) throw err;
    return reply;
  };
  return rows.map((refs) => {
    const state: QueueState = { alive: false, failed: false };
    for (const _ref of refs) {
      if (next() === 1) state.alive = true;
      const record = next();
      if (typeof record === 'string' && recordStatus(record) === 'failed') state.failed = true;
    }
    return state;
  });
}

/** The status of an index record (JSON written by job-index.ts); null if it cannot be read. */
function recordStatus(raw: string): string | null {
  try {
    const rec: unknown = JSON.parse(raw);
    return rec && typeof rec === 'object' && 'status' in rec && typeof rec.status === 'string'
      ? rec.status
      : null;
  } catch {
    return null;
  }
}
