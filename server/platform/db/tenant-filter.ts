import type { Dictionary } from '@mikro-orm/core';

/**
 * The tenant filter every tenant-owned entity declares. It is on by default and takes the organization id as its
 * only argument: a query run without one throws (MikroORM refuses a default filter with missing arguments), so a
 * forgotten tenant context fails closed instead of returning every tenant's rows. `rls: true` makes MikroORM also
 * compile it into a PostgreSQL row-level-security policy (see docs/decisions/0002-tenant-isolation.md).
 */
export const TENANT_FILTER = 'tenant';

export interface TenantFilterArgs extends Dictionary {
  organizationId: string;
}

export const tenantFilters = {
  [TENANT_FILTER]: {
    name: TENANT_FILTER,
    cond: (args: Dictionary) => ({ organization: args.organizationId }),
    default: true,
    rls: true,
  },
};
