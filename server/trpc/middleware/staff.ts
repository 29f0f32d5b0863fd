import { AppError } from '../../../shared/errors.ts';
import { middleware } from '../init.ts';
import type { Auth } from './authenticate.ts';

/** Operations console procedures: staff users only, enforced on the server whatever the UI shows. */
export const requireStaff = middleware(({ ctx, next }) => {
  const { auth } = ctx as unknown as { auth: Auth };
  if (!auth.user.staff) throw new AppError('STAFF_ONLY', 'Staff only');
  return next();
});
