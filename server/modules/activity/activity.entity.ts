import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { tenantFilters } from '../../platform/db/tenant-filter.ts';
import { User } from '../auth/user.entity.ts';
import { Organization } from '../tenancy/organization.entity.ts';

export const ActivityLog = defineEntity({
  name: 'ActivityLog',
  tableName: 'activity_log',
  filters: tenantFilters,
  // The feed reads "latest N of one organization" and "what did this user do"; both lead with organization_id.
  indexes: [
    { properties: ['organization', 'createdAt'] },
    { properties: ['organization', 'user', 'createdAt'] },
    { properties: ['organization', 'subjectType', 'subjectId'] },
  ],
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    user: () => p.manyToOne(User).nullable().deleteRule('set null'),
    action: p.string().length(64),
    subjectType: p.string().length(64).nullable(),
    subjectId: p.string().length(64).nullable(),
    metadata: p.json<Record<string, unknown>>().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});

export type IActivityLog = InferEntity<typeof ActivityLog>;
