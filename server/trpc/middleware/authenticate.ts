import type { Principal } from '../../modules/access/principal.ts';
import { setLogBindings } from '../../platform/logger/logger.ts';
import type { InnerContext } from '../context.ts';

/** The verified caller of a procedure: `ctx.auth`. */
export type Auth = Principal;

/**
 * Verifies the caller on every call (for WebSockets: at every subscription start) through the access policy, so a
 * revoked token or a destroyed session stops working at once, cached principal or not. A bearer token wins.
 */
export async function authenticate(ctx: Pick<InnerContext, 'deps' | 'credentials'>): Promise<Auth> {
  const auth = await ctx.deps.access.principalOf(ctx.credentials);
  setLogBindings({ userId: auth.user.id });
  return auth;
}
