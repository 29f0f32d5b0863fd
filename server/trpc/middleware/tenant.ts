import { z } from 'zod';
import { AppError } from '../../../shared/errors.ts';
import { effectiveAbilities, type Ability, type Role } from '../../../shared/permissions.ts';
import type { IOrganization } from '../../modules/tenancy/organization.entity.ts';
import { cachedSettings } from '../../modules/dashboard/dashboard.service.ts';
import type { TenantSettings } from '../../modules/tenancy/tenant-settings.ts';
import { membershipOfUser, type OrganizationRef } from '../../modules/tenancy/tenancy.service.ts';
import { enterTenant } from '../../platform/db/context.ts';
import { setLogBindings } from '../../platform/logger/logger.ts';
import { middleware } from '../init.ts';
import type { Auth } from './authenticate.ts';

export interface Tenant {
  organization: IOrganization;
  role: Role;
  abilities: Ability[];
  settings: TenantSettings;
}

const uuidSchema = z.uuid();

function subdomainSlug(host: string | null, appDomain: string): string | null {
  if (!host) return null;
  const hostname = host.replace(/:\d+$/, '').toLowerCase();
  const suffix = `.${appDomain.toLowerCase()}`;
  if (!hostname.endsWith(suffix)) return null;
  const label = hostname.slice(0, -suffix.length);
  return /^[a-z0-9-]{2,63}$/.test(label) ? label : null;
}

/**
 * Picks the organization for this call and proves the caller belongs to it. Order: the organization an API token
 * is bound to; an `X-Organization-Id` header; a `<slug>.<APP_DOMAIN>` host; the user's current organization.
 * Only after membership is proven does the EntityManager enter the tenant scope (filter + RLS) for the procedure.
 */
export const resolveTenant = middleware(async ({ ctx, next }) => {
  const auth = (ctx as unknown as { auth: Auth }).auth;
  const em = ctx.em!;
  let wanted: OrganizationRef | null;
  if (auth.token) {
    wanted = auth.token.organization.id;
    if (ctx.organizationHeader && ctx.organizationHeader !== wanted) {
      throw new AppError('NOT_A_MEMBER', 'This API token belongs to another organization');
    }
  } else if (ctx.organizationHeader) {
    if (!uuidSchema.safeParse(ctx.organizationHeader).success) {
      throw new AppError('VALIDATION_FAILED', 'X-Organization-Id must be a UUID', {
        fieldErrors: { 'X-Organization-Id': ['must be a UUID'] },
      });
    }
    wanted = ctx.organizationHeader;
  } else {
    const slug = subdomainSlug(ctx.host, ctx.deps.config.appDomain);
    wanted = slug ? { slug } : (auth.user.currentOrganization?.id ?? null);
  }
  if (!wanted) throw new AppError('TENANT_REQUIRED', 'Choose an organization first');

  const membership = await membershipOfUser(em, wanted, auth.user.id);
  if (!membership) {
    // One answer whether the organization at an address does not exist or is not the caller's: an address must
    // not tell outsiders which organizations exist (issue 17 finding 11).
    if (typeof wanted !== 'string') throw new AppError('NOT_FOUND', 'No organization at this address');
    throw new AppError('NOT_A_MEMBER', 'You are not a member of this organization');
  }
  const organizationId = membership.organization.id;
  enterTenant(organizationId);
  const organization = membership.organization;
  // Billing procedures let a suspended organization in (ctx.allowSuspendedTenant): its owner must be able to pay.
  if (!organization.active && !(ctx as { allowSuspendedTenant?: boolean }).allowSuspendedTenant) {
    throw new AppError(
      'TENANT_SUSPENDED',
      'This organization is suspended; contact support or update billing',
    );
  }
  setLogBindings({ tenantId: organizationId });
  const tenant: Tenant = {
    organization,
    role: membership.role,
    abilities: effectiveAbilities(membership.role, auth.token ? auth.token.abilities : null),
    // Per-tenant overrides of configuration, from the process cache (flushed by any write to the organization).
    settings: await cachedSettings(ctx.deps.cache, organization),
  };
  return next({ ctx: { tenant } });
});
