import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { ROLES } from '../../../shared/permissions.ts';
import { tenantFilters } from '../../platform/db/tenant-filter.ts';
import { User } from '../auth/user.entity.ts';
import { Organization } from '../tenancy/organization.entity.ts';

/**
 * An invitation to join an organization with a role, accepted through an emailed link. Only the SHA-256 of the
 * link's token is stored. The migration adds a partial unique index: one open invitation per organization and email.
 */
export const Invitation = defineEntity({
  name: 'Invitation',
  tableName: 'invitations',
  filters: tenantFilters,
  indexes: [
    { properties: ['organization', 'createdAt'] },
    {
      name: 'invitations_open_email_unique',
      expression: `create unique index "invitations_open_email_unique" on "invitations" ("organization_id", "email") where "accepted_at" is null and "revoked_at" is null`,
    },
  ],
  properties: {
    id: p
      .uuid()
      .primary()
      .onCreate(() => randomUUID()),
    organization: () => p.manyToOne(Organization).deleteRule('cascade'),
    email: p.string().length(254),
    role: p.enum(ROLES),
    tokenHash: p.string().length(64).unique().hidden(),
    invitedBy: () => p.manyToOne(User).nullable().deleteRule('set null'),
    expiresAt: p.datetime(),
    acceptedAt: p.datetime().nullable(),
    acceptedBy: () => p.manyToOne(User).nullable().deleteRule('set null'),
    revokedAt: p.datetime().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});

export type IInvitation = InferEntity<typeof Invitation>;
