import { AppError } from '../../../shared/errors.ts';
import { middleware } from '../init.ts';
import type { Auth } from './authenticate.ts';

/**
 * Operations console procedures: staff users only, enforced on the server whatever the UI shows, and only through a
 * signed-in session. An API token is a tenant credential: it carries the abilities it was granted in one
 * organization and nothing else, so a staff member's `read` token does not suspend tenants or replay jobs.
 */
export const requireStaff = middleware(({ ctx, next }) => {
  const { auth } = ctx as unknown as { auth: Auth };
  if (!auth.user.staff) throw new AppError('STAFF_ONLY', 'Staff only');
  if (auth.token) {
    throw new AppError('STAFF_ONLY', 'Operations need a signed-in staff session; API tokens cannot be used');
  }
  return next();
});
