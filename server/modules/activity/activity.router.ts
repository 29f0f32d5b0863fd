import { tracked } from '@trpc/server';
import { z } from 'zod';
import {
  activityOutput,
  recentActivityInput,
  type ActivityOutput,
} from '../../../shared/schemas/activity.ts';
import { lastEventIdInput } from '../../../shared/schemas/realtime.ts';
import { router } from '../../trpc/init.ts';
import { abilityProcedure } from '../../trpc/procedures.ts';
import { openLive } from '../realtime/live.ts';
import type { Resync } from '../realtime/stream.ts';
import { ACTIVITY_RETENTION, activityChannel, toActivityOutput } from './activity.publisher.ts';
import { recentActivity } from './activity.service.ts';

export const activityRouter = router({
  recent: abilityProcedure('read')
    .input(recentActivityInput)
    .output(z.array(activityOutput))
    .query(async ({ ctx, input }) => (await recentActivity(ctx.em, input.limit)).map(toActivityOutput)),

  /**
   * New activity in the caller's organization, as it happens. With `lastEventId` (sent by the client on reconnect)
   * what was missed is replayed first, exactly once; beyond the retention a `resync` item says to refetch `recent`.
   */
  onNew: abilityProcedure('read')
    .input(z.object(lastEventIdInput).strict().optional())
    .subscription(async ({ ctx, input, signal }) => {
      const live = await openLive(ctx, { signal });
      const { log, limits } = ctx.deps.realtime;
      const channel = activityChannel(ctx.tenant.organization.id);
      return live.run(async function* (signal) {
        // The log holds JSON: the date comes back as a string.
        const items = log.subscribe<Omit<ActivityOutput, 'createdAt'> & { createdAt: string }>(channel, {
          lastEventId: input?.lastEventId,
          signal,
          retention: ACTIVITY_RETENTION,
          maxQueued: limits.maxQueuedPerSubscription,
        });
        for await (const item of items) {
          if (item.kind === 'gap') yield tracked<ActivityOutput | Resync>(item.id, { type: 'resync' });
          else if (item.kind === 'event') {
            yield tracked<ActivityOutput | Resync>(item.id, {
              ...item.data,
              createdAt: new Date(item.data.createdAt),
            });
          }
        }
      });
    }),
});
