import { z } from 'zod';
import { dateInRange, uuid } from './common.ts';
import { RECORD_STATUSES } from './records.ts';

export const EXPORT_STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled'] as const;
export type ExportStatus = (typeof EXPORT_STATUSES)[number];

/** Which records an export contains: created in [from, to) and, when given, in one of the statuses. */
export const exportFilters = z
  .object({
    from: dateInRange().nullish(),
    to: dateInRange().nullish(),
    statuses: z
      .array(z.enum(RECORD_STATUSES))
      .max(RECORD_STATUSES.length)
      .nullish()
      .transform((s) => (s?.length ? [...new Set(s)].sort() : null)),
  })
  .strict()
  .refine((f) => !f.from || !f.to || f.from < f.to, { message: 'must be before "to"', path: ['from'] });
export type ExportFilters = z.output<typeof exportFilters>;

export const requestExportInput = exportFilters;

export const exportOutput = z.object({
  id: uuid,
  status: z.enum(EXPORT_STATUSES),
  filters: z.object({
    from: z.string().nullable(),
    to: z.string().nullable(),
    statuses: z.array(z.string()).nullable(),
  }),
  queue: z.string(),
  rowCount: z.number().nullable(),
  totalRows: z.number().nullable(),
  bytes: z.number().nullable(),
  error: z.string().nullable(),
  requestedBy: z.string().nullable(),
  createdAt: z.date(),
  startedAt: z.date().nullable(),
  finishedAt: z.date().nullable(),
  expiresAt: z.date().nullable(),
});
export type ExportOutput = z.infer<typeof exportOutput>;

export const requestExportOutput = z.object({ export: exportOutput, duplicate: z.boolean() });

export const exportIdInput = z.object({ id: uuid }).strict();

export const listExportsInput = z
  .object({
    status: z.enum(EXPORT_STATUSES).optional(),
    limit: z.number().int().min(1).max(100).default(25),
    offset: z.number().int().min(0).max(10_000).default(0),
  })
  .strict()
  .optional();

export const downloadOutput = z.object({ url: z.string(), expiresAt: z.date(), filename: z.string() });
