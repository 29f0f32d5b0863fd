import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { IMPORT_STATUSES, type ImportRowError } from '../../../shared/schemas/imports.ts';
import { tenantFilters } from '../../platform/db/tenant-filter.ts';
import { User } from '../auth/user.entity.ts';
import { Organization } from '../tenancy/organization.entity.ts';

/** One uploaded file and what became of it; files of a batch share `batchId`. */
export const DataImport = defineEntity({
  name: 'DataImport',
  tableName: 'imports',
  filters: tenantFilters,
  indexes: [
    { properties: ['organization', 'createdAt'] },
    { properties: ['organization', 'batchId'] },
    {
      name: 'imports_unsummarized_batches',
      expression: `create index "imports_unsummarized_batches" on "imports" ("batch_id") where "batch_id" is not null and "batch_summarized_at" is null`,
    },
  ],
  properties: {
    id: p
      .uuid()
      .primary()
      .onCreate(() => randomUUID()),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    requestedBy: () => p.manyToOne(User).nullable().deleteRule('set null'),
    filename: p.string().length(200),
    fileKey: p.string().length(300),
    maxBytes: p.integer(),
    status: p.enum(IMPORT_STATUSES),
    bytes: p.integer().nullable(),
    totalRows: p.integer().nullable(),
    importedRows: p.integer().nullable(),
    errorCount: p.integer().default(0),
    /** The first problems found; the report file has all of them. */
    errors: p
      .json<ImportRowError[]>()
      .default('[]')
      .onCreate(() => []),
    reportKey: p.string().length(300).nullable(),
    error: p.string().length(500).nullable(),
    batchId: p.uuid().nullable(),
    /** When the batch's summary went out (set on every file of the batch by the one who sent it). */
    batchSummarizedAt: p.datetime().nullable(),
    jobId: p.string().length(100).nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
    startedAt: p.datetime().nullable(),
    finishedAt: p.datetime().nullable(),
  },
});

export type IDataImport = InferEntity<typeof DataImport>;
