import { z } from 'zod';
import { uuid } from '../../../shared/schemas/common.ts';
import { EXPORT_STATUSES } from '../../../shared/schemas/exports.ts';
import { IMPORT_STATUSES } from '../../../shared/schemas/imports.ts';
import { withDbScope } from '../../platform/db/context.ts';
import { router } from '../../trpc/init.ts';
import { opsProcedure } from '../../trpc/procedures.ts';
import { listAllImports } from '../imports/imports.service.ts';
import { operatorOf, recordOperatorAction } from '../ops/ops-audit.ts';
import { exportDownload, getExport, listAllExports } from './exports.service.ts';

const page = {
  organizationId: uuid.optional(),
  limit: z.number().int().min(1).max(100).default(50),
  offset: z.number().int().min(0).max(100_000).default(0),
};

/** The operations console's view of every organization's exports and imports. Downloads are audited. */
export const opsFilesRouter = router({
  exports: opsProcedure
    .input(z.object({ ...page, status: z.enum(EXPORT_STATUSES).optional() }).strict())
    .query(({ ctx, input }) => listAllExports(ctx.deps.em, input)),

  imports: opsProcedure
    .input(z.object({ ...page, status: z.enum(IMPORT_STATUSES).optional() }).strict())
    .query(({ ctx, input }) => listAllImports(ctx.deps.em, input)),

  downloadExport: opsProcedure
    .input(z.object({ organizationId: uuid, id: uuid, reason: z.string().trim().min(3).max(500) }).strict())
    .mutation(async ({ ctx, input }) => {
      const link = await withDbScope(ctx.deps.em, input.organizationId, async (em) =>
        exportDownload(ctx.deps, await getExport(em, input.id)),
      );
      await recordOperatorAction(ctx.em, {
        operator: operatorOf(ctx),
        action: 'export.download',
        targetType: 'organization',
        targetId: input.organizationId,
        details: { exportId: input.id, reason: input.reason },
        requestId: ctx.requestId,
      });
      return link;
    }),
});
