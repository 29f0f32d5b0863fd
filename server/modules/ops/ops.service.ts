import type { Em } from '../../platform/db/context.ts';
import { User } from '../auth/user.entity.ts';
import { Organization } from '../tenancy/organization.entity.ts';

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
