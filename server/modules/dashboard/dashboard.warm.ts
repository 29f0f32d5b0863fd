import type { AppDeps } from '../../app-deps.ts';
import { withDbScope } from '../../platform/db/context.ts';
import { Organization, type IOrganization } from '../tenancy/organization.entity.ts';
import { tenantSettings } from '../tenancy/tenant-settings.ts';
import { cachedMembers, dashboardStats } from './dashboard.service.ts';

export interface WarmResult {
  organizations: number;
  failed: { organizationId: string; error: string }[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Active organizations, or the ones named (by id or slug); unknown names are reported, not skipped silently. */
export async function organizationsToWarm(
  deps: AppDeps,
  names: string[] | undefined,
): Promise<IOrganization[]> {
  return withDbScope(deps.em, undefined, async (em) => {
    if (!names?.length) return em.find(Organization, { active: true }, { orderBy: { createdAt: 'asc' } });
    const ids = names.filter((n) => UUID.test(n));
    const slugs = names.filter((n) => !UUID.test(n));
    const found = await em.find(Organization, {
      $or: [
        ...(ids.length ? [{ id: { $in: ids } }] : []),
        ...(slugs.length ? [{ slug: { $in: slugs } }] : []),
      ],
    });
    const missing = names.filter((n) => !found.some((o) => o.id === n || o.slug === n));
    if (missing.length) throw new Error(`Unknown organizations: ${missing.join(', ')}`);
    return found;
  });
}

/**
 * Fills the cache with what a tenant's first page needs: dashboard stats, the member list and settings, each
 * computed inside that organization's scope. A few organizations at a time, so a large fleet does not take every
 * database connection; one organization failing does not stop the others.
 */
export async function warmOrganizations(
  deps: AppDeps,
  organizations: IOrganization[],
  onProgress: (done: number) => void = () => {},
  concurrency = 4,
): Promise<WarmResult> {
  const failed: WarmResult['failed'] = [];
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < organizations.length) {
      const org = organizations[next++]!;
      try {
        await withDbScope(deps.em, org.id, (em) =>
          Promise.all([
            dashboardStats(deps.cache, em, org.id, tenantSettings(org)),
            cachedMembers(deps.cache, em, org.id),
          ]),
        );
      } catch (err) {
        failed.push({ organizationId: org.id, error: err instanceof Error ? err.message : String(err) });
      }
      onProgress(++done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, organizations.length) }, worker));
  return { organizations: organizations.length, failed };
}
