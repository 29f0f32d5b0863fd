import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import type { Ability } from '../../../shared/permissions.ts';
import { tenantFilters } from '../../platform/db/tenant-filter.ts';
import { Organization } from '../tenancy/organization.entity.ts';
import { User } from './user.entity.ts';

export const ApiToken = defineEntity({
  name: 'ApiToken',
  tableName: 'api_tokens',
  filters: tenantFilters,
  indexes: [{ properties: ['organization', 'user'] }],
  properties: {
    id: p
      .uuid()
      .primary()
      .onCreate(() => randomUUID()),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    user: () => p.manyToOne(User).deleteRule('cascade'),
    name: p.string().length(120),
    // SHA-256 of the secret: the secret itself is shown once and never stored.
    tokenHash: p.string().length(64).unique().hidden(),
    abilities: p.array<Ability>().columnType('text[]'),
    lastUsedAt: p.datetime().nullable(),
    expiresAt: p.datetime().nullable(),
    revokedAt: p.datetime().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});

export type IApiToken = InferEntity<typeof ApiToken>;
