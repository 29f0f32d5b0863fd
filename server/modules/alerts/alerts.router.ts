import { z } from 'zod';
import { router } from '../../trpc/init.ts';
import { opsProcedure } from '../../trpc/procedures.ts';
import { alertEvaluatorOf } from './alerts.setup.ts';

export const alertsOpsRouter = router({
  /** Every rule with its current state (inactive, pending, firing), severity and last value. */
  statuses: opsProcedure.query(({ ctx }) => alertEvaluatorOf(ctx.deps).statuses()),

  history: opsProcedure
    .input(
      z
        .object({
          ruleId: z.string().max(64).optional(),
          limit: z.number().int().min(1).max(100).default(50),
          offset: z.number().int().min(0).max(1_000_000).default(0),
        })
        .strict(),
    )
    .query(({ ctx, input }) => alertEvaluatorOf(ctx.deps).history(input.limit, input.offset, input.ruleId)),
});
