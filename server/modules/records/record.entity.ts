import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { RECORD_STATUSES } from '../../../shared/schemas/records.ts';
import { tenantFilters } from '../../platform/db/tenant-filter.ts';
import { User } from '../auth/user.entity.ts';
import { Organization } from '../tenancy/organization.entity.ts';

/**
 * A tenant's business record: what exports write and imports read. The indexes serve the export filters (a date
 * range, optionally narrowed to statuses) in the order exports stream them (created_at, id).
 */
export const BusinessRecord = defineEntity({
  name: 'BusinessRecord',
  tableName: 'records',
  filters: tenantFilters,
  indexes: [
    { properties: ['organization', 'createdAt', 'id'] },
    { properties: ['organization', 'status', 'createdAt'] },
    // Deleting a user sets user_id to null in their records: without this index, a scan of every record.
    { properties: ['user'] },
  ],
  properties: {
    id: p
      .uuid()
      .primary()
      .onCreate(() => randomUUID()),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    user: () => p.manyToOne(User).nullable().deleteRule('set null'),
    category: p.string().length(64),
    status: p.enum(RECORD_STATUSES),
    amount: p.decimal('string').precision(14).scale(2),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});

export type IBusinessRecord = InferEntity<typeof BusinessRecord>;
