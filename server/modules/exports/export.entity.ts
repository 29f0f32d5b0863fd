import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { EXPORT_STATUSES } from '../../../shared/schemas/exports.ts';
import { tenantFilters } from '../../platform/db/tenant-filter.ts';
import { User } from '../auth/user.entity.ts';
import { Organization } from '../tenancy/organization.entity.ts';

export interface StoredExportFilters {
  from: string | null;
  to: string | null;
  statuses: string[] | null;
}

/**
 * One export request and its outcome. The migration adds a partial unique index on (organization, filters_hash)
 * over queued and running exports: two identical requests racing cannot both start one.
 */
export const DataExport = defineEntity({
  name: 'DataExport',
  tableName: 'exports',
  filters: tenantFilters,
  indexes: [
    { properties: ['organization', 'createdAt'] },
    { properties: ['organization', 'filtersHash', 'createdAt'] },
    {
      name: 'exports_active_filters_unique',
      expression: `create unique index "exports_active_filters_unique" on "exports" ("organization_id", "filters_hash") where "status" in ('queued', 'running')`,
    },
  ],
  properties: {
    id: p
      .uuid()
      .primary()
      .onCreate(() => randomUUID()),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    requestedBy: () => p.manyToOne(User).nullable().deleteRule('set null'),
    filters: p.json<StoredExportFilters>(),
    filtersHash: p.string().length(64),
    status: p.enum(EXPORT_STATUSES),
    queue: p.string().length(16),
    jobId: p.string().length(100).nullable(),
    totalRows: p.integer().nullable(),
    rowCount: p.integer().nullable(),
    bytes: p.bigint('number').nullable(),
    fileKey: p.string().length(300).nullable(),
    error: p.string().length(500).nullable(),
    cancelRequestedAt: p.datetime().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
    startedAt: p.datetime().nullable(),
    finishedAt: p.datetime().nullable(),
    expiresAt: p.datetime().nullable(),
  },
});

export type IDataExport = InferEntity<typeof DataExport>;
