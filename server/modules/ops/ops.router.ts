import { z } from 'zod';
import { opsFilesRouter } from '../exports/ops-files.router.ts';
import { router } from '../../trpc/init.ts';
import { opsProcedure } from '../../trpc/procedures.ts';
import { alertsOpsRouter } from '../alerts/alerts.router.ts';
import { opsBillingRouter } from '../billing/billing.router.ts';
import { monitoringOpsRouter } from '../monitoring/monitoring.router.ts';
import { opsFlagsRouter } from '../flags/flags.router.ts';
import { opsBatchesRouter, opsJobsRouter, opsQueuesRouter, opsWorkersRouter } from '../jobs/jobs.router.ts';
import { opsMetricsSubscription } from '../realtime/realtime.router.ts';
import { opsAuditRouter, opsLookupProcedure, opsTenantsRouter } from './ops-tenants.router.ts';
import { overview, searchOrganizations } from './ops.service.ts';

export const opsRouter = router({
  files: opsFilesRouter,
  queues: opsQueuesRouter,
  jobs: opsJobsRouter,
  batches: opsBatchesRouter,
  workers: opsWorkersRouter,
  alerts: alertsOpsRouter,
  monitoring: monitoringOpsRouter,
  flags: opsFlagsRouter,
  billing: opsBillingRouter,
  overview: opsProcedure.query(({ ctx }) => overview(ctx.em)),
  metrics: opsMetricsSubscription,
  tenants: opsTenantsRouter,
  audit: opsAuditRouter,
  lookup: opsLookupProcedure,
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
