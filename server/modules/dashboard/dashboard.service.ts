import type { ActivityOutput } from '../../../shared/schemas/activity.ts';
import type { DashboardStatsOutput } from '../../../shared/schemas/dashboard.ts';
import type { Cache } from '../../platform/cache/cache.ts';
import type { Em } from '../../platform/db/context.ts';
import { ActivityLog } from '../activity/activity.entity.ts';
import { toActivityOutput } from '../activity/activity.publisher.ts';
import { Membership } from '../tenancy/membership.entity.ts';
import type { TenantSettings } from '../tenancy/tenant-settings.ts';
import { listMembers } from '../tenancy/tenancy.service.ts';

/**
 * Cache tags of tenant read models, flushed by the writes that change them (see dashboard.invalidator.ts):
 * `members` (memberships), `activity` (the activity log), `settings` (the organization row).
 */
export const TENANT_TAGS = { members: 'members', activity: 'activity' } as const;

const DAY = 24 * 3600_000;
const LEFT_ACTIONS = ['member.removed', 'member.left'];
const RECENT_ACTIVITY = 10;

interface MemberStats {
  users: number;
  activeUsers30d: number;
  mrrCents: number;
  currency: string;
  churn30d: number;
  membersLost30d: number;
}

/** Counts for the tenant dashboard. Runs on a tenant-scoped EntityManager: every query is the tenant's. */
export async function computeMemberStats(em: Em): Promise<MemberStats> {
  const since = new Date(Date.now() - 30 * DAY);
  const [users, activeUsers30d, membersLost30d] = await Promise.all([
    em.count(Membership, {}),
    em.count(Membership, { user: { lastActiveAt: { $gte: since } } }),
    em.count(ActivityLog, { action: { $in: LEFT_ACTIONS }, createdAt: { $gte: since } }),
  ]);
  const atStart = users + membersLost30d;
  return {
    users,
    activeUsers30d,
    // No billing module exists yet, so there are no subscriptions or prices to sum: MRR is 0 until billing
    // records them, and this becomes the sum of the organization's active subscription items.
    mrrCents: 0,
    currency: 'usd',
    // Without subscriptions, churn is member churn: members who left in the window (the activity log's
    // member.removed / member.left rows) over the members there were at its start.
    churn30d: atStart ? membersLost30d / atStart : 0,
    membersLost30d,
  };
}

export async function computeRecentActivity(em: Em): Promise<ActivityOutput[]> {
  const rows = await em.find(
    ActivityLog,
    {},
    { orderBy: { createdAt: 'desc', id: 'desc' }, limit: RECENT_ACTIVITY, populate: ['user'] },
  );
  return rows.map(toActivityOutput);
}

/**
 * The tenant dashboard, from the cache. Two entries so that the frequent activity writes do not throw away the
 * member counts. Active users move when users are seen (a native update with no flush event), so that number
 * may lag by up to the organization's `dashboardCacheSeconds`; everything else is flushed by the writes.
 */
export async function dashboardStats(
  cache: Cache,
  em: Em,
  organizationId: string,
  /** The organization's settings (the tenant context carries them). */
  settings: TenantSettings,
): Promise<DashboardStatsOutput> {
  const scope = cache.tenant(organizationId);
  const ttl = settings.dashboardCacheSeconds;
  const [stats, recentActivity] = await Promise.all([
    scope.remember('dashboard:stats', () => computeMemberStats(em), { ttl, tags: [TENANT_TAGS.members] }),
    scope.remember('dashboard:activity', () => computeRecentActivity(em), {
      ttl,
      tags: [TENANT_TAGS.activity],
    }),
  ]);
  return { ...stats, recentActivity, computedAt: new Date() };
}

/** The member list, cached under the `members` tag (what `organization.members` can serve from). */
export function cachedMembers(cache: Cache, em: Em, organizationId: string) {
  return cache
    .tenant(organizationId)
    .remember('members:list', () => listMembers(em), { ttl: 300, tags: [TENANT_TAGS.members] });
}
