import type { Redis } from 'ioredis';
import { AppError, clientMessage } from '../../../shared/errors.ts';
import type { AppDeps } from '../../app-deps.ts';
import { withDbScope, type Em } from '../../platform/db/context.ts';
import { TENANT_FILTER } from '../../platform/db/tenant-filter.ts';
import { Schedule, type ISchedule } from './schedule.entity.ts';
import { schedulableJob } from './schedules.service.ts';
import { nextRunAfter } from './spec.ts';

/** Due schedules fired per tick; the rest wait for the next tick (a minute later). */
const BATCH = 500;
/**
 * How long a run's marker outlives it: a tick replayed, or a second leader, within this time finds the marker. A
 * schedule's `nextRunAt` has moved on long before (the same tick's compare-and-set).
 */
const MARKER_TTL_MS = 7 * 86_400_000;

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
}

/** `<prefix>q:schedule-run:<schedule>:<due ms>`: set once per run, by the one caller that queues it. */
export const runMarkerKey = (keyPrefix: string, scheduleId: string, dueAt: Date) =>
  `${keyPrefix}q:schedule-run:${scheduleId}:${dueAt.getTime()}`;

/**
 * Queues every schedule whose next run has come, once across the fleet, and moves each to its next run after
 * `now`. The leader's tick calls this each minute.
 *
 * Exactly once: each run (schedule id + due time) has a Redis marker set with `SET NX` before its job is queued;
 * only the caller that set it queues. A second leader racing, or the same tick replayed after a crash, finds the
 * marker and only moves `nextRunAt` on (a compare-and-set on the due time, so no caller moves it twice). If
 * queueing fails the marker is deleted and the schedule stays due. The one window left: a process dying between
 * setting the marker and Redis taking the job loses that run (at most once, never twice).
 *
 * Missed runs (workers down for an hour, a schedule resumed): the due run is queued once and the next run is the
 * first one after `now`, so an outage produces one run, not one per missed time.
 */
export async function fireDueSchedules(s: FireServices, now = new Date()): Promise<FireResult> {
  const result: FireResult = { dispatched: 0, skipped: 0, refused: 0, failed: 0 };
  // System scope across tenants (no tenant, no RLS role), then each schedule in its own organization's scope.
  const due = await withDbScope(s.em, undefined, (em) =>
    em.find(
      Schedule,
      { paused: false, nextRunAt: { $lte: now } },
      { filters: { [TENANT_FILTER]: false }, orderBy: { nextRunAt: 'asc' }, limit: BATCH },
    ),
  );
  for (const row of due) {
    try {
      const outcome = await withDbScope(s.em, row.organization.id, (em) => fireOne(s, em, row, now));
      result[outcome]++;
    } catch (err) {
      result.failed++;
      s.logger.error({ err, scheduleId: row.id, tenantId: row.organization.id }, 'schedule not queued');
    }
  }
  return result;
}

async function fireOne(
  s: FireServices,
  em: Em,
  row: ISchedule,
  now: Date,
): Promise<'dispatched' | 'skipped' | 'refused'> {
  const dueAt = row.nextRunAt!;
  const organizationId = row.organization.id;
  const marker = runMarkerKey(s.config.keyPrefix, row.id, dueAt);
  const claimed = (await s.redis.set(marker, '1', 'PX', MARKER_TTL_MS, 'NX')) === 'OK';
  let outcome: 'dispatched' | 'skipped' | 'refused' = 'skipped';
  let run: { lastJobId: string | null; lastError: string | null } | undefined;
  if (claimed) {
    try {
      if (!schedulableJob(row.job))
        throw new AppError('VALIDATION_FAILED', 'This job can no longer be scheduled');
      const r = await s.queue.dispatch(row.job, row.payload, {
        organizationId,
        tags: [`schedule:${row.id}`],
      });
      run = { lastJobId: r.id, lastError: null };
      outcome = 'dispatched';
    } catch (err) {
      // A refusal of the stored payload (the job's schema changed since) will not pass on a later tick either: it
      // is recorded and the schedule moves on. Anything else leaves the run due for the next tick.
      if (!(err instanceof AppError)) {
        await s.redis.del(marker);
        throw err;
      }
      run = { lastJobId: null, lastError: clientMessage(err, 'Could not be queued').slice(0, 500) };
      outcome = 'refused';
    }
  }
  await em.nativeUpdate(
    Schedule,
    { id: row.id, organization: organizationId, nextRunAt: dueAt },
    { nextRunAt: nextRunAfter(row.cron, row.timeZone, now), lastRunAt: dueAt, ...run },
  );
  return outcome;
}
