import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { AppError } from '../../../shared/errors.ts';
import { BULK_ACTIONS, type JobSearchFilter } from '../../../shared/schemas/jobs.ts';
import type { Em } from '../../platform/db/context.ts';
import { cancelWaiting } from '../../platform/queue/cancel.ts';
import { isQueueName, type QueueName } from '../../platform/queue/definition.ts';
import type { JobStatus, JobSummary } from '../../platform/queue/job-index.ts';
import type { SearchFilter } from '../../platform/queue/search-index.ts';
import type { QueueSystem } from '../../platform/queue/system.ts';
import { retryFailedJob } from './jobs.service.ts';

// Job search and bulk actions of the operations console (ADR 0026). A bulk action is previewed first: the preview
// counts the jobs the action applies to and keeps their ids under a one-time token for a few minutes; the action
// then applies to exactly those jobs, each checked again as it is reached, and says how many it skipped.

export type BulkAction = (typeof BULK_ACTIONS)[number];

/** Most jobs one bulk action takes: a broader filter is refused with the count so far. */
export const MAX_BULK = 10_000;
/**
 * Index entries one search page may walk: a filter whose sets are large but rarely overlap answers a short (even
 * empty) page with a cursor to go on, instead of walking a million entries in one call (bench/job-search.bench.ts).
 */
export const PAGE_BUDGET = 5_000;
const CONFIRM_TTL_MS = 5 * 60_000;
/** Jobs handled per step of a bulk action. */
const CHUNK = 200;

/** Which jobs each action applies to, by their status in the index (or the queue, before a first outcome). */
const ELIGIBLE: Record<BulkAction, ReadonlySet<JobStatus>> = {
  retry: new Set(['failed']),
  cancel: new Set(['queued', 'delayed', 'retrying', 'released']),
  delete: new Set(['queued', 'delayed', 'retrying', 'released', 'completed', 'failed', 'cancelled']),
};

function toSearchFilter(f: JobSearchFilter): SearchFilter {
  return {
    name: f.name,
    organizationId: f.organizationId === 'none' ? null : f.organizationId,
    tag: f.tag,
    fields: f.fields,
    state: f.state,
    from: f.from,
    to: f.to,
  };
}

/** Key order does not change a filter: the confirmation compares this form. */
function canonical(f: JobSearchFilter): string {
  const sorted = (o: Record<string, unknown>): Record<string, unknown> =>
    Object.fromEntries(
      Object.entries(o)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, v && typeof v === 'object' ? sorted(v as Record<string, unknown>) : v]),
    );
  return JSON.stringify(sorted(f));
}

export async function searchJobs(
  queue: QueueSystem,
  input: { filter: JobSearchFilter; cursor?: string | undefined; limit: number },
) {
  return queue.index.find(toSearchFilter(input.filter), {
    cursor: input.cursor,
    limit: input.limit,
    budget: PAGE_BUDGET,
  });
}

/** Every job matching the filter, up to MAX_BULK + 1 (one more tells "too many"). */
async function allMatching(queue: QueueSystem, filter: JobSearchFilter): Promise<JobSummary[]> {
  const out: JobSummary[] = [];
  let cursor: string | undefined;
  do {
    // Many short script calls rather than one long one: Redis serves nothing else while a script runs.
    const page = await queue.index.find(toSearchFilter(filter), { cursor, limit: 1000, budget: PAGE_BUDGET });
    out.push(...page.items);
    cursor = page.cursor ?? undefined;
  } while (cursor && out.length <= MAX_BULK);
  return out;
}

const stored = z.object({
  action: z.enum(BULK_ACTIONS),
  filter: z.string(),
  operatorId: z.string(),
  jobs: z.array(z.tuple([z.string(), z.string()])),
});

export async function bulkPreview(
  queue: QueueSystem,
  operatorId: string,
  input: { action: BulkAction; filter: JobSearchFilter },
): Promise<{ action: BulkAction; count: number; confirm: string; expiresAt: Date }> {
  const matching = await allMatching(queue, input.filter);
  if (matching.length > MAX_BULK) {
    throw new AppError(
      'VALIDATION_FAILED',
      `More than ${MAX_BULK} jobs match: narrow the filter (a bulk action takes at most ${MAX_BULK})`,
      { fieldErrors: { filter: [`matches more than ${MAX_BULK} jobs`] } },
    );
  }
  const eligible = ELIGIBLE[input.action];
  const jobs = matching.filter((j) => eligible.has(j.status)).map((j) => [j.id, j.queue] as const);
  const confirm = randomUUID();
  await queue.redis.set(
    queue.keys.bulk(confirm),
    JSON.stringify({ action: input.action, filter: canonical(input.filter), operatorId, jobs }),
    'PX',
    CONFIRM_TTL_MS,
  );
  return {
    action: input.action,
    count: jobs.length,
    confirm,
    expiresAt: new Date(Date.now() + CONFIRM_TTL_MS),
  };
}

export interface BulkResult {
  action: BulkAction;
  /** Jobs the preview counted. */
  count: number;
  done: number;
  /** Counted jobs the action no longer applied to when reached (finished, running, retried meanwhile…). */
  skipped: number;
  /** The first 100 jobs acted on. */
  ids: string[];
}

export async function bulkAct(
  em: Em,
  queue: QueueSystem,
  operatorId: string,
  input: { action: BulkAction; filter: JobSearchFilter; confirm: string },
): Promise<BulkResult> {
  // One use: a second click, or a replay of the request, finds nothing.
  const raw = await queue.redis.getdel(queue.keys.bulk(input.confirm));
  const parsed = raw ? stored.safeParse(JSON.parse(raw)) : undefined;
  if (!parsed?.success) {
    throw new AppError('VALIDATION_FAILED', 'This confirmation has expired or was used: preview again', {
      fieldErrors: { confirm: ['has expired or was used'] },
    });
  }
  const p = parsed.data;
  if (p.action !== input.action || p.filter !== canonical(input.filter) || p.operatorId !== operatorId) {
    throw new AppError('VALIDATION_FAILED', 'This confirmation was given for another action or filter', {
      fieldErrors: { confirm: ['does not match the action and filter'] },
    });
  }
  const done: string[] = [];
  for (let i = 0; i < p.jobs.length; i += CHUNK) {
    const chunk = p.jobs.slice(i, i + CHUNK);
    done.push(...(await actOn(em, queue, input.action, chunk)));
  }
  return {
    action: input.action,
    count: p.jobs.length,
    done: done.length,
    skipped: p.jobs.length - done.length,
    ids: done.slice(0, 100),
  };
}

async function actOn(
  em: Em,
  queue: QueueSystem,
  action: BulkAction,
  jobs: [string, string][],
): Promise<string[]> {
  if (action === 'retry') {
    const retried: string[] = [];
    for (const [id] of jobs) if (await retryOne(em, queue, id)) retried.push(id);
    return retried;
  }
  const byQueue = new Map<QueueName, string[]>();
  for (const [id, q] of jobs) if (isQueueName(q)) byQueue.set(q, [...(byQueue.get(q) ?? []), id]);
  const cancelled: string[] = [];
  for (const [q, ids] of byQueue) {
    cancelled.push(...(await cancelWaiting(queue.redis, queue.keys, queue.index, q, ids, 'ops')));
  }
  if (action === 'cancel') return cancelled;
  // Delete: a waiting job is cancelled first (so it never runs and its unique lock goes), then every trace of the
  // job goes (index record, failed_jobs row). A job running now, or one the cancel left alone, is skipped.
  const taken = new Set(cancelled);
  const summaries = await queue.index.summaries(jobs.map(([id]) => id).filter((id) => !taken.has(id)));
  const finished = summaries
    .filter((j) => j.status === 'completed' || j.status === 'failed' || j.status === 'cancelled')
    .map((j) => j.id);
  const deleted = [...cancelled, ...finished];
  for (const id of deleted) await queue.index.forget(id);
  await queue.failedSink?.forget(deleted);
  return deleted;
}

/** A failed job from failed_jobs (the whole payload is there), else from the index; false when neither has it. */
async function retryOne(em: Em, queue: QueueSystem, id: string): Promise<boolean> {
  for (const retry of [() => retryFailedJob(em, queue, id), () => queue.retry(id)]) {
    try {
      await retry();
      return true;
    } catch (err) {
      if (!(err instanceof AppError && err.code === 'NOT_FOUND')) throw err;
    }
  }
  return false;
}
