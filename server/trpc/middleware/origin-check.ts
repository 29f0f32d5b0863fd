import { AppError } from '../../../shared/errors.ts';
import { middleware } from '../init.ts';

/**
 * Cookie-authenticated mutations must come from an allowed Origin: SameSite cookies already stop most cross-site
 * requests, and this closes the rest (older browsers, same-site subdomains). Bearer tokens are not sent by
 * browsers on their own, so token calls are not checked.
 */
export const originCheck = middleware(({ ctx, type, next }) => {
  if (type === 'mutation' && !ctx.credentials.bearer && ctx.credentials.sessionId) {
    const allowed = ctx.origin
      ? ctx.deps.config.allowedOrigins.includes(ctx.origin)
      : ctx.fetchSite === null || ctx.fetchSite === 'same-origin' || ctx.fetchSite === 'none';
    if (!allowed) throw new AppError('ORIGIN_REFUSED', 'Request origin is not allowed');
  }
  return next();
});
