import type { Ability } from '../../shared/permissions.ts';
import { requireAbility, requireStaff } from '../modules/access/access.service.ts';
import { baseProcedure } from './init.ts';
import { authenticate } from './middleware/authenticate.ts';
import { dbScope } from './middleware/db-scope.ts';
import { mapErrors } from './middleware/errors.ts';
import { liveOnly } from './middleware/live-only.ts';
import { originCheck } from './middleware/origin-check.ts';
import { enforceRateLimit } from './middleware/rate-limit.ts';
import { wellFormedInput } from './middleware/well-formed.ts';
import { resolveTenant } from './middleware/tenant.ts';

// Each step adds to the context what it proved (`em`, then `auth`, then `tenant`) through `next({ ctx })`, so
// tRPC types every later step and every resolver with it: no step reads a field an earlier one might not have set.

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
/** Anonymous calls that cost something (they queue mail): the `api` limit per IP. */
export const anonymousLimitedProcedure = publicProcedure.use(async ({ ctx, next }) => {
  await enforceRateLimit(ctx, 'api', `ip:${ctx.ip}`);
  return next();
});
/** A verified user (session cookie or API token): ctx.auth, limited by the `api` policy per user. */
export const authedProcedure = publicProcedure
  .use(async ({ ctx, next }) => next({ ctx: { auth: await authenticate(ctx) } }))
  // Reads may go to a replica that replayed this user's last write (ADR 0013); anonymous calls read the primary.
  .use(({ ctx, next }) => ctx.deps.readYourWrites.run(`user:${ctx.auth.user.id}`, () => next()))
  .use(async ({ ctx, next }) => {
    await enforceRateLimit(ctx, 'api', `user:${ctx.auth.user.id}`);
    return next();
  });
/** A member of the resolved organization, with the EntityManager scoped to it: ctx.tenant. */
export const tenantProcedure = authedProcedure.use(async ({ ctx, next }) =>
  next({ ctx: { tenant: await resolveTenant(ctx) } }),
);
/** A member whose role (and token) grants the ability. */
export const abilityProcedure = (ability: Ability) =>
  tenantProcedure.use(({ ctx, next }) => {
    requireAbility(ctx.tenant, ability);
    return next();
  });
/**
 * Billing: like `abilityProcedure('billing:manage')`, but a suspended organization is let in, so the owner can pay
 * and lift the suspension. Everything else refuses a suspended organization (TENANT_SUSPENDED).
 */
export const billingProcedure = authedProcedure.use(async ({ ctx, next }) => {
  const tenant = await resolveTenant(ctx, { allowSuspended: true });
  requireAbility(tenant, 'billing:manage');
  return next({ ctx: { tenant } });
});
/** Staff only: the operations console. */
export const opsProcedure = authedProcedure.use(({ ctx, next }) => {
  requireStaff(ctx.auth);
  return next();
});
/** Sign-in: public, limited by the `login` policy (per IP). */
export const loginProcedure = publicProcedure.use(async ({ ctx, next }) => {
  await enforceRateLimit(ctx, 'login', `ip:${ctx.ip}`);
  return next();
});
/**
 * Registration: public, limited by the `register` policy (per IP). Per client IP: behind a proxy this needs
 * TRUST_PROXY set to its hops or addresses, or every user shares one IP.
 */
export const registerProcedure = publicProcedure.use(async ({ ctx, next }) => {
  await enforceRateLimit(ctx, 'register', `ip:${ctx.ip}`);
  return next();
});
