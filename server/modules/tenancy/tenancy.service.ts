import { randomBytes } from 'node:crypto';
import { LockMode } from '@mikro-orm/core';
import { AppError } from '../../../shared/errors.ts';
import { abilitiesGainedBy, abilitiesNotHeld, type Ability, type Role } from '../../../shared/permissions.ts';
import type { OrganizationOutput } from '../../../shared/schemas/tenancy.ts';
import type { Em } from '../../platform/db/context.ts';
import { TENANT_FILTER } from '../../platform/db/tenant-filter.ts';
import { recordActivity } from '../activity/activity.service.ts';
import { ApiToken } from '../auth/api-token.entity.ts';
import { User } from '../auth/user.entity.ts';
import { accessKey } from '../access/access-change.ts';
import { announceChange } from '../realtime/access-watcher.ts';
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

export function toOrganizationOutput(
  org: Pick<IOrganization, 'id' | 'name' | 'slug' | 'tier' | 'active'>,
  role: Role,
): OrganizationOutput {
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
  // Cached principals carry the current organization.
  await announceChange(em, [accessKey.user(userId)]);
}

/**
 * The memberships a membership change must see in one consistent state: the target's, and every owner's (for the
 * last-owner rule). They are locked for the transaction, so two owners demoting each other at the same time cannot
 * both see "another owner remains" and leave the organization without one; `refresh` re-reads the rows the request
 * already holds (the caller's own membership, loaded when the tenant was resolved).
 */
async function lockMemberships(tx: Em, userId: string) {
  const rows = await tx.find(
    Membership,
    { $or: [{ user: userId }, { role: 'owner' }] },
    { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true, orderBy: { id: 'asc' } },
  );
  const target = rows.find((m) => m.user.id === userId);
  if (!target) throw new AppError('NOT_FOUND', 'No such member in this organization');
  const owners = rows.filter((m) => m.role === 'owner').length;
  return { target, owners };
}

function assertNotLastOwner(target: IMembership, owners: number, message: string): void {
  if (target.role === 'owner' && owners <= 1)
    throw new AppError('LAST_OWNER', message, { fieldErrors: { role: [message] } });
}

/** Only an owner may make an owner or touch one; an admin manages admins and members. */
function assertMayManage(actorRole: Role, target: IMembership, newRole?: Role): void {
  if (actorRole === 'owner') return;
  if (target.role === 'owner') {
    throw new AppError('ABILITY_MISSING', 'Only an owner can change or remove an owner');
  }
  if (newRole === 'owner') {
    throw new AppError('ABILITY_MISSING', 'Only an owner can make someone an owner', {
      fieldErrors: { role: ['only an owner can grant the owner role'] },
    });
  }
}

export interface ChangeRoleInput {
  organizationId: string;
  actorId: string;
  actorRole: Role;
  /** The effective abilities of the credential making the change: it may grant only what it holds itself. */
  actorAbilities: readonly Ability[];
  userId: string;
  role: Role;
}

export async function changeMemberRole(em: Em, input: ChangeRoleInput) {
  return em.transactional(async (tx) => {
    const { target, owners } = await lockMemberships(tx, input.userId);
    assertMayManage(input.actorRole, target, input.role);
    const from = target.role;
    if (from === input.role) return { userId: input.userId, role: from };
    const refused = abilitiesNotHeld(abilitiesGainedBy(input.role, from), input.actorAbilities);
    if (refused.length) {
      throw new AppError(
        'ABILITY_MISSING',
        `Making this member ${input.role} grants abilities you do not hold`,
        {
          fieldErrors: { role: [`grants abilities you do not hold: ${refused.join(', ')}`] },
        },
      );
    }
    if (input.role !== 'owner') {
      assertNotLastOwner(
        target,
        owners,
        'The last owner cannot be demoted; make someone else an owner first',
      );
    }
    target.role = input.role;
    recordActivity(tx, {
      organizationId: input.organizationId,
      userId: input.actorId,
      action: 'member.role_changed',
      subjectType: 'user',
      subjectId: input.userId,
      metadata: { from, to: input.role },
    });
    await tx.flush();
    return { userId: input.userId, role: input.role };
  });
}

/**
 * Ends a membership: the membership row goes (through the unit of work, so the realtime access watcher ends the
 * user's live subscriptions here), their API tokens for this organization are revoked, and the organization stops
 * being their current one. The actor is the remover, or the member themselves when they leave.
 */
async function endMembership(
  tx: Em,
  input: {
    organizationId: string;
    actorId: string;
    userId: string;
    action: 'member.removed' | 'member.left';
  },
  target: IMembership,
): Promise<void> {
  const tokens = await tx.find(ApiToken, { user: input.userId, revokedAt: null });
  const now = new Date();
  for (const token of tokens) token.revokedAt = now;
  const user = await tx.findOne(User, { id: input.userId, currentOrganization: input.organizationId });
  if (user) user.currentOrganization = null;
  tx.remove(target);
  recordActivity(tx, {
    organizationId: input.organizationId,
    userId: input.actorId,
    action: input.action,
    subjectType: 'user',
    subjectId: input.userId,
    metadata: { role: target.role, tokensRevoked: tokens.length },
  });
  await tx.flush();
}

export interface RemoveMemberInput {
  organizationId: string;
  actorId: string;
  actorRole: Role;
  userId: string;
}

export async function removeMember(em: Em, input: RemoveMemberInput): Promise<void> {
  await em.transactional(async (tx) => {
    const { target, owners } = await lockMemberships(tx, input.userId);
    assertMayManage(input.actorRole, target);
    assertNotLastOwner(target, owners, 'The last owner cannot be removed; make someone else an owner first');
    await endMembership(tx, { ...input, action: 'member.removed' }, target);
  });
}

export async function leaveOrganization(em: Em, organizationId: string, userId: string): Promise<void> {
  await em.transactional(async (tx) => {
    const { target, owners } = await lockMemberships(tx, userId);
    assertNotLastOwner(target, owners, 'The last owner cannot leave; make someone else an owner first');
    await endMembership(tx, { organizationId, actorId: userId, userId, action: 'member.left' }, target);
  });
}
