import type { EntityName, FilterQuery, OrderDefinition } from '@mikro-orm/core';
import { withDbScope, type Em } from './context.ts';
import { TENANT_FILTER } from './tenant-filter.ts';

interface TenantRow {
  id: string;
  createdAt: Date;
  organization: { id: string };
}

/**
 * Ops listings: one page of a tenant-owned table across every organization, newest first, optionally narrowed to one
 * organization. The tenant filter is switched off for this query only, so callers must be staff-only
 * (`opsProcedure`); the fork has no tenant, so row-level security does not narrow it either.
 */
export function pageAcrossTenants<T extends TenantRow>(
  rootEm: Em,
  entity: EntityName<T>,
  opts: { organizationId?: string | undefined; where?: FilterQuery<T>; limit: number; offset: number },
): Promise<{ items: T[]; total: number }> {
  return withDbScope(rootEm, undefined, async (em) => {
    // MikroORM's query types cannot see TenantRow's properties through the generic T; the casts only restate them.
    const where = {
      ...(opts.where as object),
      ...(opts.organizationId ? { organization: opts.organizationId } : {}),
    } as FilterQuery<T>;
    const [items, total] = await em.findAndCount(entity, where, {
      filters: { [TENANT_FILTER]: false },
      orderBy: { createdAt: 'desc', id: 'desc' } as OrderDefinition<T>,
      limit: opts.limit,
      offset: opts.offset,
    });
    return { items, total };
  });
}
