import { isLive } from '../../modules/realtime/live.ts';
import { middleware } from '../init.ts';

/**
 * Every subscription goes through openLive: the start checks, the per-connection limit, and the rechecks that end it
 * on sign-out, removal, suspension or revocation. One that does not is a bug that would outlive access: it is refused
 * (and logged as a failure) before it streams anything.
 */
export const liveOnly = middleware(async ({ type, path, next }) => {
  const result = await next();
  if (type === 'subscription' && result.ok && !isLive(result.data)) {
    throw new Error(`the subscription ${path} does not go through openLive`);
  }
  return result;
});
