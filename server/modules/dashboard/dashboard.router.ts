import { dashboardStatsOutput } from '../../../shared/schemas/dashboard.ts';
import { router } from '../../trpc/init.ts';
import { abilityProcedure } from '../../trpc/procedures.ts';
import { dashboardStats } from './dashboard.service.ts';

export const dashboardRouter = router({
  stats: abilityProcedure('read')
    .output(dashboardStatsOutput)
    .query(({ ctx }) =>
      dashboardStats(ctx.deps.cache, ctx.em, ctx.tenant.organization.id, ctx.tenant.settings),
    ),
});
