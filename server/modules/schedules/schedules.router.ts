import { z } from 'zod';
import {
  createScheduleInput,
  listSchedulesOutput,
  MAX_SCHEDULES,
  scheduleIdInput,
  scheduleOutput,
  setSchedulePausedInput,
} from '../../../shared/schemas/schedules.ts';
import { router } from '../../trpc/init.ts';
import { abilityProcedure } from '../../trpc/procedures.ts';
import {
  createSchedule,
  getSchedule,
  listSchedules,
  removeSchedule,
  setSchedulePaused,
  toScheduleOutput,
} from './schedules.service.ts';

// Members read the organization's schedules; changing them is organization configuration (`settings:manage`:
// owners and admins), since a schedule acts for the organization, not for the person who made it.
export const schedulesRouter = router({
  list: abilityProcedure('read')
    .output(listSchedulesOutput)
    .query(async ({ ctx }) => ({
      items: (await listSchedules(ctx.em)).map(toScheduleOutput),
      limit: MAX_SCHEDULES[ctx.tenant.organization.tier],
    })),

  get: abilityProcedure('read')
    .input(scheduleIdInput)
    .output(scheduleOutput)
    .query(async ({ ctx, input }) => toScheduleOutput(await getSchedule(ctx.em, input.id))),

  create: abilityProcedure('settings:manage')
    .input(createScheduleInput)
    .output(scheduleOutput)
    .mutation(async ({ ctx, input }) =>
      toScheduleOutput(
        await createSchedule(ctx.em, {
          organization: ctx.tenant.organization,
          userId: ctx.auth.user.id,
          schedule: input,
        }),
      ),
    ),

  /** Pausing stops the runs; resuming runs next at the schedule's next time from now. */
  setPaused: abilityProcedure('settings:manage')
    .input(setSchedulePausedInput)
    .output(scheduleOutput)
    .mutation(async ({ ctx, input }) =>
      toScheduleOutput(await setSchedulePaused(ctx.em, input.id, input.paused)),
    ),

  remove: abilityProcedure('settings:manage')
    .input(scheduleIdInput)
    .output(z.object({ removed: z.literal(true) }))
    .mutation(async ({ ctx, input }) => {
      await removeSchedule(ctx.em, input.id);
      return { removed: true as const };
    }),
});
