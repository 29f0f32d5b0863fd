import { randomBytes } from 'node:crypto';
import { AppError } from '../../../shared/errors.ts';
import type { Role } from '../../../shared/permissions.ts';
import type { OrganizationOutput } from '../../../shared/schemas/tenancy.ts';
import type { Em } from '../../platform/db/context.ts';
import { TENANT_FILTER } from '../../platform/db/tenant-filter.ts';
import { recordActivity } from '../activity/activity.service.ts';
import { User } from '../auth/user.entity.ts';
import { Membership, type IMembership } from './membership.entity.ts';
import { Organization, type IOrganization } from './organization.entity.ts';

export function slugify(name: string): string {
  const base = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48);
  return base.length >= 2 ? base : `org-${base}`.replace(/-$/, '');
}

/** A free slug derived from the name: `acme`, else `acme-3f9a1c`. */
export async function uniqueSlug(em: Em, name: string): Promise<string> {
  const base = slugify(name);
  if (!(await em.count(Organization, { slug: base }))) return base;
  for (;;) {
    const candidate = `${base}-${randomBytes(3).toString('hex')}`;
    if (!(await em.count(Organization, { slug: candidate }))) return candidate;
  }
}

export function toOrganizationOutput(org: IOrganization, role: Role): OrganizationOutput {
  return { id: org.id, name: org.name, slug: org.slug, tier: org.tier, active: org.active, role };
}

/**
 * The organizations a user belongs to. Memberships are tenant-owned, so reading across organizations is an
 * explicit filter bypass, allowed here only because the query is keyed by the user themselves. It must run outside
 * a tenant scope (where row-level security would hide the other organizations' rows).
 */
export async function organizationsOfUser(em: Em, userId: string): Promise<OrganizationOutput[]> {
  const memberships = await em.find(
    Membership,
    { user: userId },
    { filters: { [TENANT_FILTER]: false }, populate: ['organization'], orderBy: { createdAt: 'asc' } },
  );
  return memberships.map((m) => toOrganizationOutput(m.organization, m.role));
}

/**
 * The user's membership in an organization, with the organization loaded. It runs before the request enters the
 * tenant scope (it is what decides whether it may), keyed by the user themselves, so it reads with the tenant
 * filter off: one query, instead of a tenant-scoped transaction on every request.
 */
export async function membershipOfUser(
  em: Em,
  organizationId: string,
  userId: string,
): Promise<IMembership | null> {
  return em.findOne(
    Membership,
    { organization: organizationId, user: userId },
    { populate: ['organization'], filters: { [TENANT_FILTER]: false } },
  );
}

export async function findOrganizationBySlug(em: Em, slug: string): Promise<IOrganization | null> {
  return em.findOne(Organization, { slug });
}

export async function listMembers(em: Em) {
  const memberships = await em.find(Membership, {}, { populate: ['user'], orderBy: { createdAt: 'asc' } });
  return memberships.map((m) => ({
    userId: m.user.id,
    email: m.user.email,
    name: m.user.name,
    role: m.role,
    joinedAt: m.createdAt,
  }));
}

export interface UpdateOrganizationInput {
  name?: string | undefined;
  billingEmail?: string | null | undefined;
  settings?: Record<string, unknown> | undefined;
}

export async function updateOrganization(
  em: Em,
  organizationId: string,
  actorId: string,
  input: UpdateOrganizationInput,
): Promise<IOrganization> {
  const org = await em.findOneOrFail(Organization, organizationId, {
    failHandler: () => new AppError('NOT_FOUND', 'Organization not found'),
  });
  const before = { name: org.name, billingEmail: org.billingEmail, settings: org.settings };
  if (input.name !== undefined) org.name = input.name;
  if (input.billingEmail !== undefined) org.billingEmail = input.billingEmail;
  if (input.settings !== undefined) org.settings = { ...org.settings, ...input.settings };
  recordActivity(em, {
    organizationId,
    userId: actorId,
    action: 'organization.updated',
    subjectType: 'organization',
    subjectId: organizationId,
    metadata: { before, after: { name: org.name, billingEmail: org.billingEmail, settings: org.settings } },
  });
  await em.flush();
  return org;
}

export async function setCurrentOrganization(em: Em, userId: string, organizationId: string): Promise<void> {
  await em.nativeUpdate(User, { id: userId }, { currentOrganization: organizationId });
}
