import type { Redis } from 'ioredis';
import { AppError, clientMessage } from '../../../shared/errors.ts';
import type { AppDeps } from '../../app-deps.ts';
import { withDbScope, type Em } from '../../platform/db/context.ts';
import { TENANT_FILTER } from '../../platform/db/tenant-filter.ts';
import { Schedule, type ISchedule } from './schedule.entity.ts';
import { schedulableJob } from './schedules.service.ts';
import { nextRunAfter } from './spec.ts';

/** Due schedules read per query. */
const BATCH = 500;
/** Schedules queued at once within a page. */
const CONCURRENCY = 16;
/**
 * How long a run's marker outlives it: a tick replayed, or a second leader, within this time finds the marker. A
 * schedule's `nextRunAt` has moved on long before (the same tick's compare-and-set).
 */
const MARKER_TTL_MS = 7 * 86_400_000;
/** A claim this old that never became a queued job belongs to a process that died between the two. */
const CLAIM_STALE_MS = 5 * 60_000;

export type FireServices = Pick<AppDeps, 'em' | 'queue' | 'config' | 'logger'> & { redis: Redis };

export interface FireResult {
  /** Runs queued by this call. */
  dispatched: number;
  /** Runs another caller (a second leader, an earlier attempt of this tick) had queued already. */
  skipped: number;
  /** Runs whose job refused the stored payload (recorded on the schedule as lastError). */
  refused: number;
  /** Schedules left due because queueing failed (Redis down): the next tick tries again. */
  failed: number;
  /** Runs given up: their claimer died before the job was queued (recorded as lastError). */
  lost: number;
}

/** `<prefix>q:schedule-run:<schedule>:<due ms>`: set once per run, by the one caller that queues it. */
export const runMarkerKey = (keyPrefix: string, scheduleId: string, dueAt: Date) =>
  `${keyPrefix}q:schedule-run:${scheduleId}:${dueAt.getTime()}`;

/**
 * Queues every schedule whose next run has come, once across the fleet, and moves each to its next run after
 * `now`. The leader's tick calls this each minute.
 *
 * Exactly once: each run (schedule id + due time) has a Redis marker, claimed with `SET NX` before its job is
 * queued and then set to `queued:<job id>` (or `refused`); only the claimer queues. A second leader racing, or the
 * same tick replayed after a crash, finds the marker: a settled run only moves `nextRunAt` on (a compare-and-set on
 * the due time, so no caller moves it twice), a run being queued is left to its claimer. If queueing fails the
 * marker is deleted and the schedule stays due. The one window left: a process dying between its claim and Redis
 * taking the job loses that run; five minutes on, a tick records it as lost and moves on (at most once, never twice).
 *
 * Missed runs (workers down for an hour, a schedule resumed): the due run is queued once and the next run is the
 * first one after `now`, so an outage produces one run, not one per missed time.
 */
export async function fireDueSchedules(
  s: FireServices,
  now = new Date(),
  opts: { batch?: number } = {},
): Promise<FireResult> {
  const batch = opts.batch ?? BATCH;
  const result: FireResult = { dispatched: 0, skipped: 0, refused: 0, failed: 0, lost: 0 };
  // Pages in (next run, id) order, so a schedule left due (Redis failing, another caller queueing it) is not read
  // again in this tick; the tick goes on until no schedule is due, however many came due at once (Monday 09:00).
  let after: { nextRunAt: Date; id: string } | undefined;
  for (;;) {
    const page = await dueSchedules(s.em, now, after, batch);
    // Several at a time: each schedule is a few round trips (Redis claim, dispatch, marker, the update), and the
    // queue's connection pipelines what concurrent callers send.
    for (let i = 0; i < page.length; i += CONCURRENCY) {
      await Promise.all(
        page.slice(i, i + CONCURRENCY).map(async (row) => {
          try {
            const outcome = await withDbScope(s.em, row.organization.id, (em) => fireOne(s, em, row, now));
            result[outcome]++;
          } catch (err) {
            result.failed++;
            s.logger.error({ err, scheduleId: row.id, tenantId: row.organization.id }, 'schedule not queued');
          }
        }),
      );
    }
    const last = page.at(-1);
    if (!last || page.length < batch) return result;
    after = { nextRunAt: last.nextRunAt!, id: last.id };
  }
}

/** One page of due schedules, across tenants (system scope: no tenant filter, no RLS role). */
function dueSchedules(
  rootEm: Em,
  now: Date,
  after: { nextRunAt: Date; id: string } | undefined,
  batch: number,
) {
  return withDbScope(rootEm, undefined, (em) =>
    em.find(
      Schedule,
      {
        paused: false,
        nextRunAt: { $lte: now },
        // A suspended organization's schedules wait: reactivated, each runs once for the time it missed.
        organization: { active: true },
        ...(after
          ? {
              $or: [
                { nextRunAt: { $gt: after.nextRunAt } },
                { nextRunAt: after.nextRunAt, id: { $gt: after.id } },
              ],
            }
          : {}),
      },
      { filters: { [TENANT_FILTER]: false }, orderBy: { nextRunAt: 'asc', id: 'asc' }, limit: batch },
    ),
  );
}

type Outcome = 'dispatched' | 'skipped' | 'refused' | 'lost';
interface RunFields {
  lastJobId?: string | null;
  lastError?: string | null;
}

async function fireOne(s: FireServices, em: Em, row: ISchedule, now: Date): Promise<Outcome> {
  const dueAt = row.nextRunAt!;
  const marker = runMarkerKey(s.config.keyPrefix, row.id, dueAt);
  const claimed = await s.redis.set(marker, `claimed:${Date.now()}`, 'PX', MARKER_TTL_MS, 'NX');
  const settled = claimed ? await queueRun(s, row, marker) : await runQueuedBefore(s, marker);
  if (!settled) return 'skipped';
  // Compare-and-set on the due time: whoever settles the run first moves the schedule on, once.
  await em.nativeUpdate(
    Schedule,
    { id: row.id, organization: row.organization.id, nextRunAt: dueAt },
    { nextRunAt: nextRunAfter(row.cron, row.timeZone, now), lastRunAt: dueAt, ...settled.run },
  );
  return settled.outcome;
}

/** This caller holds the run's marker: queue the job and record the outcome in the marker. */
async function queueRun(
  s: FireServices,
  row: ISchedule,
  marker: string,
): Promise<{ outcome: Outcome; run: RunFields }> {
  try {
    if (!schedulableJob(row.job))
      throw new AppError('VALIDATION_FAILED', 'This job can no longer be scheduled');
    const r = await s.queue.dispatch(row.job, row.payload, {
      organizationId: row.organization.id,
      tags: [`schedule:${row.id}`],
    });
    await s.redis.set(marker, `queued:${r.id ?? ''}`, 'PX', MARKER_TTL_MS);
    return { outcome: 'dispatched', run: { lastJobId: r.id, lastError: null } };
  } catch (err) {
    // Anything but a refusal (Redis down) leaves the run due for the next tick, which claims it again.
    if (!(err instanceof AppError)) {
      await s.redis.del(marker);
      throw err;
    }
    // A refusal of the stored payload (the job's schema changed since) would be refused on every tick: it is
    // recorded and the schedule moves on.
    await s.redis.set(marker, 'refused', 'PX', MARKER_TTL_MS);
    const lastError = clientMessage(err, 'Could not be queued').slice(0, 500);
    return { outcome: 'refused', run: { lastJobId: null, lastError } };
  }
}

/**
 * Another caller holds the run's marker. Queued or refused: that caller (or this tick's earlier attempt) settled
 * the run, and only the schedule's move may be missing. Still being queued: leave it to that caller. Claimed long
 * ago and never settled: the claimer died between its claim and Redis taking the job, and the run is given up
 * rather than risk a second job.
 */
async function runQueuedBefore(
  s: FireServices,
  marker: string,
): Promise<{ outcome: Outcome; run: RunFields } | null> {
  const state = await s.redis.get(marker);
  if (state?.startsWith('queued:')) return { outcome: 'skipped', run: { lastJobId: state.slice(7) || null } };
  if (state === 'refused') return { outcome: 'skipped', run: {} };
  if (state?.startsWith('claimed:') && Date.now() - Number(state.slice(8)) > CLAIM_STALE_MS) {
    return {
      outcome: 'lost',
      run: { lastJobId: null, lastError: 'A run was lost: the process queueing it stopped' },
    };
  }
  return null;
}
