import type { Ability } from '../../shared/permissions.ts';
import { baseProcedure, middleware } from './init.ts';
import { requireAbility } from './middleware/ability.ts';
import { authenticate } from './middleware/authenticate.ts';
import { dbScope } from './middleware/db-scope.ts';
import { mapErrors } from './middleware/errors.ts';
import { liveOnly } from './middleware/live-only.ts';
import { originCheck } from './middleware/origin-check.ts';
import { apiRateLimit, loginRateLimit, registerRateLimit } from './middleware/rate-limit.ts';
import { requireStaff } from './middleware/staff.ts';
import { wellFormedInput } from './middleware/well-formed.ts';
import { resolveTenant } from './middleware/tenant.ts';

/**
 * Anyone; gets an EntityManager fork (ctx.em). Input with lone surrogates or reserved keys is refused first;
 * subscriptions must go through openLive (liveOnly).
 */
export const publicProcedure = baseProcedure
  .use(mapErrors)
  .use(wellFormedInput)
  .use(liveOnly)
  .use(originCheck)
  .use(dbScope);
/** A verified user (session cookie or API token): ctx.auth. */
export const authedProcedure = publicProcedure.use(authenticate).use(apiRateLimit);
/** A member of the resolved organization, with the EntityManager scoped to it: ctx.tenant. */
export const tenantProcedure = authedProcedure.use(resolveTenant);
/** A member whose role (and token) grants the ability. */
export const abilityProcedure = (ability: Ability) => tenantProcedure.use(requireAbility(ability));
/**
 * Billing: like `abilityProcedure('billing:manage')`, but a suspended organization is let in, so the owner can pay
 * and lift the suspension. Everything else refuses a suspended organization (TENANT_SUSPENDED).
 */
export const billingProcedure = authedProcedure
  .use(middleware(({ next }) => next({ ctx: { allowSuspendedTenant: true } })))
  .use(resolveTenant)
  .use(requireAbility('billing:manage'));
/** Staff only: the operations console. */
export const opsProcedure = authedProcedure.use(requireStaff);
/** Sign-in: public, limited by the `login` policy (per IP). */
export const loginProcedure = publicProcedure.use(loginRateLimit);
/** Registration: public, limited by the `register` policy (per IP). */
export const registerProcedure = publicProcedure.use(registerRateLimit);
