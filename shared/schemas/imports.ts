import { z } from 'zod';
import { uuid } from './common.ts';

export const IMPORT_STATUSES = [
  'uploading',
  'queued',
  'validating',
  'importing',
  'completed',
  'invalid',
  'failed',
] as const;
export type ImportStatus = (typeof IMPORT_STATUSES)[number];

export const MAX_IMPORT_BYTES = 10 * 1024 * 1024;
export const MAX_BATCH_FILES = 50;

const filename = z
  .string()
  .trim()
  .min(1, 'is required')
  .max(200, 'must be at most 200 characters')
  .refine(
    (n) => !/[\\/]/.test(n) && ![...n].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f),
    'must be a plain file name',
  )
  .refine((n) => /\.(csv|txt)$/i.test(n), 'must be a .csv or .txt file');

export const createUploadInput = z
  .object({
    filename,
    /** The size the client is about to send; the upload URL refuses anything larger than this (and 10 MB). */
    size: z
      .number()
      .int()
      .min(1, 'the file is empty')
      .max(MAX_IMPORT_BYTES, `must be at most ${MAX_IMPORT_BYTES / 1024 / 1024} MB`),
    contentType: z
      .string()
      .max(100)
      .refine(
        (t) => /^(text\/csv|text\/plain|application\/csv|application\/vnd\.ms-excel)(;.*)?$/i.test(t),
        'must be text/csv or text/plain',
      )
      .optional(),
  })
  .strict();

export const createUploadOutput = z.object({
  importId: uuid,
  /** PUT the file's bytes here (any content type), then call imports.start. */
  uploadUrl: z.string(),
  expiresAt: z.date(),
  maxBytes: z.number(),
});

export const startImportInput = z.object({ importId: uuid }).strict();
export const startBatchInput = z
  .object({
    importIds: z
      .array(uuid)
      .min(1, 'needs at least one file')
      .max(MAX_BATCH_FILES, `at most ${MAX_BATCH_FILES} files per batch`)
      .refine((ids) => new Set(ids).size === ids.length, 'must not repeat a file'),
  })
  .strict();

export const importRowError = z.object({ line: z.number(), column: z.string(), reason: z.string() });
export type ImportRowError = z.infer<typeof importRowError>;

export const importOutput = z.object({
  id: uuid,
  filename: z.string(),
  status: z.enum(IMPORT_STATUSES),
  bytes: z.number().nullable(),
  totalRows: z.number().nullable(),
  importedRows: z.number().nullable(),
  errorCount: z.number(),
  /** The first problems found (the full list is in the report). */
  errors: z.array(importRowError),
  error: z.string().nullable(),
  batchId: z.string().nullable(),
  hasReport: z.boolean(),
  requestedBy: z.string().nullable(),
  createdAt: z.date(),
  finishedAt: z.date().nullable(),
});
export type ImportOutput = z.infer<typeof importOutput>;

export const importIdInput = z.object({ id: uuid }).strict();
export const listImportsInput = z
  .object({
    batchId: uuid.optional(),
    status: z.enum(IMPORT_STATUSES).optional(),
    limit: z.number().int().min(1).max(100).default(25),
    offset: z.number().int().min(0).max(10_000).default(0),
  })
  .strict()
  .optional();

export const batchOutput = z.object({
  batchId: uuid,
  files: z.number(),
  finished: z.number(),
  completed: z.number(),
  invalid: z.number(),
  failed: z.number(),
  rows: z.number(),
  progress: z.number(),
});
