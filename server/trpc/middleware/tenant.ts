import { z } from 'zod';
import { AppError } from '../../../shared/errors.ts';
import type { OrganizationRef } from '../../modules/access/access.service.ts';
import type { Membership } from '../../modules/access/principal.ts';
import { enterTenant } from '../../platform/db/context.ts';
import { setLogBindings } from '../../platform/logger/logger.ts';
import type { InnerContext } from '../context.ts';
import type { Auth } from './authenticate.ts';

/** The organization a tenant procedure acts in, and the caller's standing there: `ctx.tenant`. */
export type Tenant = Membership;

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
 * The organization this call names. Order: the organization an API token is bound to; an `X-Organization-Id`
 * header; a `<slug>.<APP_DOMAIN>` host; the user's current organization.
 */
function wantedOrganization(ctx: InnerContext, auth: Auth): OrganizationRef {
  if (auth.token) {
    if (ctx.organizationHeader && ctx.organizationHeader !== auth.token.organizationId) {
      throw new AppError('NOT_A_MEMBER', 'This API token belongs to another organization');
    }
    return auth.token.organizationId;
  }
  if (ctx.organizationHeader) {
    if (!uuidSchema.safeParse(ctx.organizationHeader).success) {
      throw new AppError('VALIDATION_FAILED', 'X-Organization-Id must be a UUID', {
        fieldErrors: { 'X-Organization-Id': ['must be a UUID'] },
      });
    }
    return ctx.organizationHeader;
  }
  const slug = subdomainSlug(ctx.host, ctx.deps.config.appDomain);
  const wanted = slug ? { slug } : auth.user.currentOrganizationId;
  if (!wanted) throw new AppError('TENANT_REQUIRED', 'Choose an organization first');
  return wanted;
}

/**
 * Picks the organization for this call and proves the caller belongs to it (through the access policy). Only then
 * does the request's database scope enter the tenant (filter + RLS). Billing passes `allowSuspended`: the owner of a
 * suspended organization must be able to pay.
 */
export async function resolveTenant(
  ctx: InnerContext & { auth: Auth },
  opts: { allowSuspended?: boolean } = {},
): Promise<Tenant> {
  const tenant = await ctx.deps.access.requireMembership(ctx.auth, wantedOrganization(ctx, ctx.auth), opts);
  enterTenant(tenant.organization.id);
  setLogBindings({ tenantId: tenant.organization.id });
  return tenant;
}
