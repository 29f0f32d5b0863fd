import { z } from 'zod';
import {
  downloadOutput,
  exportIdInput,
  exportOutput,
  listExportsInput,
  requestExportInput,
  requestExportOutput,
} from '../../../shared/schemas/exports.ts';
import { router } from '../../trpc/init.ts';
import { abilityProcedure } from '../../trpc/procedures.ts';
import {
  cancelExport,
  exportDownload,
  getExport,
  listExports,
  requestExport,
  toExportOutput,
} from './exports.service.ts';

export const exportsRouter = router({
  /** Starts an export (or returns the identical one made within the hour); progress arrives on jobs.progress. */
  request: abilityProcedure('read')
    .input(requestExportInput)
    .output(requestExportOutput)
    .mutation(async ({ ctx, input }) => {
      const r = await requestExport(ctx.deps, ctx.em, {
        organization: ctx.tenant.organization,
        userId: ctx.auth.user.id,
        filters: input,
      });
      return { export: toExportOutput(r.export), duplicate: r.duplicate };
    }),

  list: abilityProcedure('read')
    .input(listExportsInput)
    .output(z.object({ items: z.array(exportOutput), total: z.number() }))
    .query(async ({ ctx, input }) => {
      const r = await listExports(ctx.em, { limit: 25, offset: 0, ...input });
      return { items: r.items.map(toExportOutput), total: r.total };
    }),

  get: abilityProcedure('read')
    .input(exportIdInput)
    .output(exportOutput)
    .query(async ({ ctx, input }) => toExportOutput(await getExport(ctx.em, input.id))),

  cancel: abilityProcedure('read')
    .input(exportIdInput)
    .output(exportOutput)
    .mutation(async ({ ctx, input }) => toExportOutput(await cancelExport(ctx.deps, ctx.em, input.id))),

  /** A fresh signed link to the file, valid until the export expires. */
  download: abilityProcedure('read')
    .input(exportIdInput)
    .output(downloadOutput)
    .mutation(async ({ ctx, input }) => exportDownload(ctx.deps, await getExport(ctx.em, input.id))),
});
