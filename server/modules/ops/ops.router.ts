import { z } from 'zod';
import { router } from '../../trpc/init.ts';
import { opsProcedure } from '../../trpc/procedures.ts';
import { overview, searchOrganizations } from './ops.service.ts';

export const opsRouter = router({
  overview: opsProcedure.query(({ ctx }) => overview(ctx.em)),
  organizations: router({
    list: opsProcedure
      .input(
        z
          .object({
            query: z.string().trim().max(120).optional(),
            limit: z.number().int().min(1).max(100).default(25),
            offset: z.number().int().min(0).max(1_000_000).default(0),
          })
          .strict(),
      )
      .query(({ ctx, input }) => searchOrganizations(ctx.em, input.query, input.limit, input.offset)),
  }),
});
