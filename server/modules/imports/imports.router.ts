import { z } from 'zod';
import { downloadOutput } from '../../../shared/schemas/exports.ts';
import {
  batchOutput,
  createUploadInput,
  createUploadOutput,
  importIdInput,
  importOutput,
  listImportsInput,
  startBatchInput,
  startImportInput,
} from '../../../shared/schemas/imports.ts';
import { uuid } from '../../../shared/schemas/common.ts';
import { router } from '../../trpc/init.ts';
import { abilityProcedure } from '../../trpc/procedures.ts';
import {
  batchSummary,
  createUpload,
  getImport,
  listImports,
  reportDownload,
  startBatch,
  startImport,
  toImportOutput,
} from './imports.service.ts';

export const importsRouter = router({
  /** Reserves an import and returns where to PUT the file (≤ 10 MB, .csv or .txt). */
  createUpload: abilityProcedure('write')
    .input(createUploadInput)
    .output(createUploadOutput)
    .mutation(async ({ ctx, input }) => {
      const { row, upload } = await createUpload(ctx.deps, ctx.em, {
        organizationId: ctx.tenant.organization.id,
        userId: ctx.auth.user.id,
        filename: input.filename,
        size: input.size,
      });
      return {
        importId: row.id,
        uploadUrl: upload.url,
        expiresAt: upload.expiresAt,
        maxBytes: upload.maxBytes,
      };
    }),

  start: abilityProcedure('write')
    .input(startImportInput)
    .output(importOutput)
    .mutation(async ({ ctx, input }) => toImportOutput(await startImport(ctx.deps, ctx.em, input.importId))),

  startBatch: abilityProcedure('write')
    .input(startBatchInput)
    .output(z.object({ batchId: uuid, imports: z.array(importOutput) }))
    .mutation(async ({ ctx, input }) => {
      const r = await startBatch(ctx.deps, ctx.em, input.importIds);
      return { batchId: r.batchId, imports: r.rows.map(toImportOutput) };
    }),

  list: abilityProcedure('read')
    .input(listImportsInput)
    .output(z.object({ items: z.array(importOutput), total: z.number() }))
    .query(async ({ ctx, input }) => {
      const r = await listImports(ctx.em, { limit: 25, offset: 0, ...input });
      return { items: r.items.map(toImportOutput), total: r.total };
    }),

  get: abilityProcedure('read')
    .input(importIdInput)
    .output(importOutput)
    .query(async ({ ctx, input }) => toImportOutput(await getImport(ctx.em, input.id))),

  batch: abilityProcedure('read')
    .input(z.object({ batchId: uuid }).strict())
    .output(batchOutput)
    .query(async ({ ctx, input }) => {
      const { requestedBy: _r, organizationId: _o, ...summary } = await batchSummary(ctx.em, input.batchId);
      return summary;
    }),

  /** A signed link to the CSV of every problem found in the file. */
  report: abilityProcedure('read')
    .input(importIdInput)
    .output(downloadOutput)
    .mutation(async ({ ctx, input }) => reportDownload(ctx.deps, await getImport(ctx.em, input.id))),
});
