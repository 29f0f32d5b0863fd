import { z } from 'zod';
import { AppError } from '../../../shared/errors.ts';
import { uuid } from '../../../shared/schemas/common.ts';
import {
  jobsProgressInput,
  lastEventIdInput,
  type JobProgress,
  type MetricsSample,
  type Notification,
  type OrgEvent,
} from '../../../shared/schemas/realtime.ts';
import { METRICS_CHANNEL, METRICS_RETENTION } from '../../platform/realtime/realtime.ts';
import { router } from '../../trpc/init.ts';
import { abilityProcedure, authedProcedure, opsProcedure } from '../../trpc/procedures.ts';
import { openLive } from './live.ts';
import {
  jobsChannel,
  JOBS_RETENTION,
  notificationsChannel,
  NOTIFICATIONS_RETENTION,
  orgEventsChannel,
  ORG_EVENTS_RETENTION,
} from './realtime.service.ts';
import { stream } from './stream.ts';

const lastEventOnly = z.object(lastEventIdInput).strict().optional();

export const orgRealtimeRouter = router({
  /** Organization-wide events (members only): documents published, members joining, jobs finishing, … */
  events: abilityProcedure('read')
    .input(lastEventOnly)
    .subscription(async ({ ctx, input, signal }) => {
      const live = await openLive(ctx, { signal });
      const { log, limits } = ctx.deps.realtime;
      return stream<OrgEvent>(live, log, orgEventsChannel(ctx.tenant.organization.id), {
        lastEventId: input?.lastEventId,
        retention: ORG_EVENTS_RETENTION,
        maxQueued: limits.maxQueuedPerSubscription,
      });
    }),
});

export const userRealtimeRouter = router({
  /**
   * The signed-in user's notifications. Naming another user is refused; with an API token (bound to one
   * organization) only that organization's notifications and general ones arrive.
   */
  notifications: authedProcedure
    .input(
      z
        .object({ userId: uuid.optional(), ...lastEventIdInput })
        .strict()
        .optional(),
    )
    .subscription(async ({ ctx, input, signal }) => {
      if (input?.userId && input.userId !== ctx.auth.user.id) {
        throw new AppError('ABILITY_MISSING', 'You can only subscribe to your own notifications');
      }
      const live = await openLive(ctx, { signal });
      const { log, limits } = ctx.deps.realtime;
      const tokenOrg = ctx.auth.token?.organizationId ?? null;
      return stream<Notification>(live, log, notificationsChannel(ctx.auth.user.id), {
        lastEventId: input?.lastEventId,
        retention: NOTIFICATIONS_RETENTION,
        maxQueued: limits.maxQueuedPerSubscription,
        keep: (n) => !tokenOrg || n.organizationId === null || n.organizationId === tokenOrg,
      });
    }),
});

export const jobsRealtimeRouter = router({
  /** Progress of the organization's exports, imports and batches (optionally one job); coalesced per job. */
  progress: abilityProcedure('read')
    .input(jobsProgressInput.optional())
    .subscription(async ({ ctx, input, signal }) => {
      const live = await openLive(ctx, { signal });
      const { log, limits } = ctx.deps.realtime;
      const jobId = input?.jobId;
      return stream<JobProgress>(live, log, jobsChannel(ctx.tenant.organization.id), {
        lastEventId: input?.lastEventId,
        retention: JOBS_RETENTION,
        maxQueued: limits.maxQueuedPerSubscription,
        keep: (p) => !jobId || p.jobId === jobId,
        coalesceKey: (p) => p.jobId,
      });
    }),
});

/**
 * Live figures of every API process, one sample per process per second (staff only). `historySeconds` replays
 * that much of the retained history first, for charts.
 */
export const opsMetricsSubscription = opsProcedure
  .input(
    z
      .object({ historySeconds: z.number().int().min(0).max(600).optional(), ...lastEventIdInput })
      .strict()
      .optional(),
  )
  .subscription(async ({ ctx, input, signal }) => {
    const live = await openLive(ctx, { signal, staffOnly: true });
    const { log, limits } = ctx.deps.realtime;
    // Stream ids start with a millisecond timestamp, so "everything since t" is the id `t-0`.
    const since = input?.historySeconds ? `${Date.now() - input.historySeconds * 1000}-0` : null;
    return stream<MetricsSample>(live, log, METRICS_CHANNEL, {
      lastEventId: input?.lastEventId ?? since,
      retention: METRICS_RETENTION,
      maxQueued: limits.maxQueuedPerSubscription,
      coalesceKey: (s) => s.process,
    });
  });
