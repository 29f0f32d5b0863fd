import { LockMode } from '@mikro-orm/core';
import { AppError } from '../../../shared/errors.ts';
import type { OrganizationTier } from '../../../shared/schemas/tenancy.ts';
import { withDbScope, type Em } from '../../platform/db/context.ts';
import type { ConsoleMetricsStore } from '../../platform/metrics/console-store.ts';
import { ActivityLog } from '../activity/activity.entity.ts';
import { ApiToken } from '../auth/api-token.entity.ts';
import { User } from '../auth/user.entity.ts';
import { Subscription } from '../billing/billing.entity.ts';
import { Document } from '../documents/document.entity.ts';
import { FailedJob } from '../jobs/failed-job.entity.ts';
import { Membership } from '../tenancy/membership.entity.ts';
import { Organization, type IOrganization } from '../tenancy/organization.entity.ts';
import { OpsAudit } from './ops-audit.entity.ts';
import { recordOperatorAction, toAuditOutput, type Operator } from './ops-audit.ts';

// Staff reads across tenants. Organizations and users are not tenant-owned, so no filter is bypassed here; any
// cross-tenant read of tenant-owned rows belongs in a named, audited function like these.

export async function overview(em: Em) {
  const [organizations, activeOrganizations, users, staff] = await Promise.all([
    em.count(Organization, {}),
    em.count(Organization, { active: true }),
    em.count(User, {}),
    em.count(User, { staff: true }),
  ]);
  return { organizations, activeOrganizations, users, staff };
}

export async function searchOrganizations(em: Em, query: string | undefined, limit: number, offset: number) {
  const where = query
    ? {
        $or: [{ name: { $ilike: `%${escapeLike(query)}%` } }, { slug: { $ilike: `%${escapeLike(query)}%` } }],
      }
    : {};
  const [rows, total] = await em.findAndCount(Organization, where, {
    orderBy: { createdAt: 'desc' },
    limit,
    offset,
  });
  return {
    total,
    items: rows.map((o) => ({
      id: o.id,
      name: o.name,
      slug: o.slug,
      tier: o.tier,
      active: o.active,
      createdAt: o.createdAt,
    })),
  };
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

// ---- tenants: the console's Tenants page ----

export interface TenantQuery {
  query?: string | undefined;
  tier?: OrganizationTier | undefined;
  status?: 'active' | 'suspended' | undefined;
  limit: number;
  offset: number;
}

/** Organizations with their member counts, newest first. */
export async function listTenants(em: Em, q: TenantQuery) {
  const like = q.query ? `%${escapeLike(q.query)}%` : null;
  const where = {
    ...(like ? { $or: [{ name: { $ilike: like } }, { slug: { $ilike: like } }] } : {}),
    ...(q.tier ? { tier: q.tier } : {}),
    ...(q.status ? { active: q.status === 'active' } : {}),
  };
  const [rows, total] = await em.findAndCount(Organization, where, {
    orderBy: { createdAt: 'desc', id: 'desc' },
    limit: q.limit,
    offset: q.offset,
  });
  const members = await memberCounts(
    em,
    rows.map((o) => o.id),
  );
  return {
    total,
    items: rows.map((o) => ({
      id: o.id,
      name: o.name,
      slug: o.slug,
      tier: o.tier,
      active: o.active,
      members: members.get(o.id) ?? 0,
      createdAt: o.createdAt,
    })),
  };
}

/**
 * Member counts of a page of organizations: one grouped count across tenants (a number per organization, no
 * member rows), run outside any tenant scope on purpose.
 */
async function memberCounts(em: Em, organizationIds: string[]): Promise<Map<string, number>> {
  if (!organizationIds.length) return new Map();
  const rows = await em
    .getConnection()
    .execute<{ organization_id: string; n: number }[]>(
      `select organization_id, count(*)::int as n from memberships where organization_id in (${organizationIds.map(() => '?').join(', ')}) group by organization_id`,
      organizationIds,
    );
  return new Map(rows.map((r) => [r.organization_id, r.n]));
}

async function requireOrganization(em: Em, id: string): Promise<IOrganization> {
  const org = await em.findOne(Organization, { id });
  if (!org) throw new AppError('NOT_FOUND', 'No organization with this id');
  return org;
}

const MEMBERS_ON_PAGE = 20;

/**
 * One tenant as support sees it: details, first members, usage and subscription. Tenant-owned rows are read inside
 * that tenant's own scope (ORM filter and row-level security on), never by switching the filter off.
 */
export async function tenantDetail(em: Em, rootEm: Em, metrics: ConsoleMetricsStore, id: string) {
  const org = await requireOrganization(em, id);
  const [scoped, requests, failedJobs, suspension] = await Promise.all([
    withDbScope(rootEm, id, async (tenantEm) => {
      const since = new Date(Date.now() - 30 * 24 * 3600_000);
      const [members, documents, apiTokens, activity, subscription] = await Promise.all([
        tenantMembers(tenantEm, MEMBERS_ON_PAGE, 0),
        tenantEm.count(Document, {}),
        tenantEm.count(ApiToken, { revokedAt: null }),
        tenantEm.count(ActivityLog, { createdAt: { $gte: since } }),
        tenantEm.findOne(Subscription, {}, { orderBy: { createdAt: 'desc', id: 'desc' } }),
      ]);
      return { members, documents, apiTokens, activity, subscription };
    }),
    metrics.topList('org:req', 24, 500),
    em.count(FailedJob, { organization: id }),
    latestAction(em, id, ['tenant.suspend', 'tenant.reactivate']),
  ]);
  const s = scoped.subscription;
  return {
    organization: {
      id: org.id,
      name: org.name,
      slug: org.slug,
      tier: org.tier,
      active: org.active,
      billingEmail: org.billingEmail ?? null,
      stripeCustomerId: org.stripeCustomerId ?? null,
      createdAt: org.createdAt,
      updatedAt: org.updatedAt,
    },
    /** The last suspend or reactivate by an operator, so the page can say who and why. */
    lastStatusChange: suspension,
    members: scoped.members,
    usage: {
      members: scoped.members.total,
      documents: scoped.documents,
      activeApiTokens: scoped.apiTokens,
      activityLast30Days: scoped.activity,
      /** Null when the organization is not among the busiest 500 of the last 24 hours (the store keeps those). */
      requestsLast24Hours: requests.find((r) => r.member === id)?.score ?? null,
      failedJobs,
    },
    subscription: s
      ? {
          stripeId: s.stripeId,
          price: s.stripePrice,
          quantity: s.quantity,
          status: s.status,
          trialEndsAt: s.trialEndsAt ?? null,
          currentPeriodEnd: s.currentPeriodEnd ?? null,
          endsAt: s.endsAt ?? null,
          cancelAtPeriodEnd: s.cancelAtPeriodEnd,
          failedPaymentAttempts: s.failedPaymentAttempts,
          suspendedAt: s.suspendedAt ?? null,
        }
      : null,
  };
}

async function tenantMembers(tenantEm: Em, limit: number, offset: number) {
  const [rows, total] = await tenantEm.findAndCount(
    Membership,
    {},
    { populate: ['user'], orderBy: { createdAt: 'asc', id: 'asc' }, limit, offset },
  );
  return {
    total,
    items: rows.map((m) => ({
      userId: m.user.id,
      name: m.user.name,
      email: m.user.email,
      role: m.role,
      staff: m.user.staff,
      lastActiveAt: m.user.lastActiveAt ?? null,
      joinedAt: m.createdAt,
    })),
  };
}

/** A page of one tenant's members, read inside its scope. */
export async function listTenantMembers(em: Em, rootEm: Em, id: string, limit: number, offset: number) {
  await requireOrganization(em, id);
  return withDbScope(rootEm, id, (tenantEm) => tenantMembers(tenantEm, limit, offset));
}

async function latestAction(em: Em, organizationId: string, actions: string[]) {
  const row = await em.findOne(
    OpsAudit,
    { targetType: 'organization', targetId: organizationId, action: { $in: actions } },
    { orderBy: { createdAt: 'desc', id: 'desc' } },
  );
  return row ? toAuditOutput(row) : null;
}

/**
 * Suspends or reactivates an organization and writes the audit entry in the same transaction. The row is locked,
 * so two operators acting at once get one change and one CONFLICT. The change goes through the unit of work, so
 * the realtime access watcher closes the tenant's live subscriptions once it commits; the tenant middleware
 * refuses its next request.
 */
export async function setTenantActive(
  em: Em,
  operator: Operator,
  input: { id: string; active: boolean; reason?: string | undefined; requestId?: string | undefined },
) {
  return em.transactional(async (tx) => {
    const org = await tx.findOne(Organization, { id: input.id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    if (!org) throw new AppError('NOT_FOUND', 'No organization with this id');
    if (org.active === input.active) {
      throw new AppError(
        'CONFLICT',
        input.active ? `${org.name} is already active` : `${org.name} is already suspended`,
      );
    }
    org.active = input.active;
    await tx.flush();
    await recordOperatorAction(tx, {
      operator,
      action: input.active ? 'tenant.reactivate' : 'tenant.suspend',
      targetType: 'organization',
      targetId: org.id,
      details: { name: org.name, slug: org.slug, ...(input.reason ? { reason: input.reason } : {}) },
      requestId: input.requestId ?? null,
    });
    return { id: org.id, active: org.active };
  });
}

/** Display names for ids the metrics store reports (top organizations and users). Unknown ids are left out. */
export async function lookupNames(em: Em, input: { organizationIds: string[]; userIds: string[] }) {
  const [orgs, users] = await Promise.all([
    input.organizationIds.length
      ? em.find(Organization, { id: { $in: input.organizationIds } }, { fields: ['id', 'name', 'slug'] })
      : [],
    input.userIds.length
      ? em.find(User, { id: { $in: input.userIds } }, { fields: ['id', 'name', 'email'] })
      : [],
  ]);
  return {
    organizations: Object.fromEntries(orgs.map((o) => [o.id, { name: o.name, slug: o.slug }])),
    users: Object.fromEntries(users.map((u) => [u.id, { name: u.name, email: u.email }])),
  };
}
