import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { tenantFilters } from '../../platform/db/tenant-filter.ts';
import { User } from '../auth/user.entity.ts';
import { Organization } from '../tenancy/organization.entity.ts';

/**
 * A document members edit together. `version` starts at 1 and goes up by one per save; a save names the version it
 * was made on and fails when another save came first. Private documents are visible to their owner only.
 */
export const Document = defineEntity({
  name: 'Document',
  tableName: 'documents',
  filters: tenantFilters,
  indexes: [{ properties: ['organization', 'updatedAt'] }, { properties: ['organization', 'owner'] }],
  properties: {
    id: p
      .uuid()
      .primary()
      .onCreate(() => randomUUID()),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    owner: () => p.manyToOne(User).deleteRule('cascade'),
    title: p.string().length(200),
    content: p.text().lazy(),
    version: p.integer().default(1),
    public: p.boolean().default(true),
    updatedBy: () => p.manyToOne(User).nullable().deleteRule('set null'),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p
      .datetime()
      .onCreate(() => new Date())
      .onUpdate(() => new Date()),
  },
});

export type IDocument = InferEntity<typeof Document>;
