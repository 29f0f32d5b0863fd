import { tracked } from '@trpc/server';
import { z } from 'zod';
import {
  activityOutput,
  recentActivityInput,
  type ActivityOutput,
} from '../../../shared/schemas/activity.ts';
import { router } from '../../trpc/init.ts';
import { abilityProcedure } from '../../trpc/procedures.ts';
import { activityChannel, toActivityOutput } from './activity.publisher.ts';
import { recentActivity } from './activity.service.ts';

export const activityRouter = router({
  recent: abilityProcedure('read')
    .input(recentActivityInput)
    .output(z.array(activityOutput))
    .query(async ({ ctx, input }) => (await recentActivity(ctx.em, input.limit)).map(toActivityOutput)),

  /** New activity in the caller's organization, as it happens. */
  onNew: abilityProcedure('read').subscription(async function* ({ ctx, signal }) {
    const channel = activityChannel(ctx.tenant.organization.id);
    const events = await ctx.deps.pubsub.subscribe<ActivityOutput>(
      channel,
      signal ?? new AbortController().signal,
    );
    for await (const event of events) {
      yield tracked(String(event.id), { ...event, createdAt: new Date(event.createdAt) });
    }
  }),
});
