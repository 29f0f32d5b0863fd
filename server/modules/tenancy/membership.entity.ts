import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { ROLES } from '../../../shared/permissions.ts';
import { tenantFilters } from '../../platform/db/tenant-filter.ts';
import { User } from '../auth/user.entity.ts';
import { Organization } from './organization.entity.ts';

export const Membership = defineEntity({
  name: 'Membership',
  tableName: 'memberships',
  filters: tenantFilters,
  uniques: [{ properties: ['organization', 'user'] }],
  indexes: [{ properties: ['user'] }],
  properties: {
    id: p
      .uuid()
      .primary()
      .onCreate(() => randomUUID()),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    user: () => p.manyToOne(User).deleteRule('cascade'),
    role: p.enum(ROLES),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});

export type IMembership = InferEntity<typeof Membership>;
