import { z } from 'zod';
import { runHealthChecks } from '../../platform/health/health.ts';
import { router } from '../../trpc/init.ts';
import { opsProcedure } from '../../trpc/procedures.ts';
import { monitoringSeries, RANGES } from './monitoring.service.ts';

/** The console's Pulse-style cards and charts: all fleet-wide, read from the Redis metrics store. */
export const monitoringOpsRouter = router({
  series: opsProcedure
    .input(z.object({ range: z.enum(RANGES).default('1h') }).strict())
    .query(({ ctx, input }) => monitoringSeries(ctx.deps.observability.console, input.range)),

  top: opsProcedure
    .input(
      z
        .object({
          kind: z.enum(['org:req', 'user:req', 'org:slow', 'user:slow']),
          hours: z.number().int().min(1).max(168).default(24),
          limit: z.number().int().min(1).max(50).default(10),
        })
        .strict(),
    )
    .query(({ ctx, input }) => ctx.deps.observability.console.topList(input.kind, input.hours, input.limit)),

  slowRequests: opsProcedure
    .input(z.object({ limit: z.number().int().min(1).max(200).default(50) }).strict())
    .query(({ ctx, input }) => ctx.deps.observability.console.slowRequests(input.limit)),

  slowQueries: opsProcedure
    .input(z.object({ limit: z.number().int().min(1).max(100).default(20) }).strict())
    .query(({ ctx, input }) => ctx.deps.observability.console.listGroups('slowq', input.limit)),

  exceptions: opsProcedure
    .input(z.object({ limit: z.number().int().min(1).max(100).default(20) }).strict())
    .query(({ ctx, input }) => ctx.deps.observability.console.listGroups('exc', input.limit)),

  /** The readiness checks with their values (the console is staff-only, so details are shown). */
  health: opsProcedure.query(({ ctx }) => runHealthChecks(ctx.deps.healthChecks, { version: 'ops' })),
});
