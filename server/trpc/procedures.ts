import type { Ability } from '../../shared/permissions.ts';
import { baseProcedure } from './init.ts';
import { requireAbility } from './middleware/ability.ts';
import { authenticate } from './middleware/authenticate.ts';
import { dbScope } from './middleware/db-scope.ts';
import { mapErrors } from './middleware/errors.ts';
import { originCheck } from './middleware/origin-check.ts';
import { requireStaff } from './middleware/staff.ts';
import { resolveTenant } from './middleware/tenant.ts';

/** Anyone; gets an EntityManager fork (ctx.em). */
export const publicProcedure = baseProcedure.use(mapErrors).use(originCheck).use(dbScope);
/** A verified user (session cookie or API token): ctx.auth. */
export const authedProcedure = publicProcedure.use(authenticate);
/** A member of the resolved organization, with the EntityManager scoped to it: ctx.tenant. */
export const tenantProcedure = authedProcedure.use(resolveTenant);
/** A member whose role (and token) grants the ability. */
export const abilityProcedure = (ability: Ability) => tenantProcedure.use(requireAbility(ability));
/** Staff only: the operations console. */
export const opsProcedure = authedProcedure.use(requireStaff);
