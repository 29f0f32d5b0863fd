import { AppError } from '../../../shared/errors.ts';
import type { IApiToken } from '../../modules/auth/api-token.entity.ts';
import { authenticateToken, findUser, touchUser } from '../../modules/auth/auth.service.ts';
import type { IUser } from '../../modules/auth/user.entity.ts';
import { setLogBindings } from '../../platform/logger/logger.ts';
import { middleware } from '../init.ts';

export interface Auth {
  user: IUser;
  via: 'session' | 'token';
  /** Present when the caller used an API token; tokens are bound to one organization. */
  token: IApiToken | null;
  sessionId: string | null;
}

/**
 * Verifies the caller on every call (for WebSockets: at every subscription start), so a revoked token or a
 * destroyed session stops working at once. A bearer token wins over a cookie.
 */
export const authenticate = middleware(async ({ ctx, next }) => {
  const em = ctx.em!;
  const { bearer, sessionId } = ctx.credentials;
  let auth: Auth;
  if (bearer) {
    const { token, user } = await authenticateToken(em, bearer);
    auth = { user, via: 'token', token, sessionId: null };
  } else if (sessionId) {
    const session = await ctx.deps.sessions.get(sessionId).catch(() => {
      throw new AppError('SERVICE_UNAVAILABLE', 'Sessions are unavailable, try again shortly');
    });
    if (!session) throw new AppError('SESSION_EXPIRED', 'Your session has expired, sign in again');
    const user = await findUser(em, session.userId);
    if (!user) throw new AppError('SESSION_EXPIRED', 'Your session has expired, sign in again');
    auth = { user, via: 'session', token: null, sessionId };
    if (!user.lastActiveAt || Date.now() - user.lastActiveAt.getTime() > 5 * 60_000) {
      await touchUser(em, user.id);
    }
  } else {
    throw new AppError('AUTH_REQUIRED', 'Sign in or send an API token');
  }
  setLogBindings({ userId: auth.user.id });
  return next({ ctx: { auth } });
});
