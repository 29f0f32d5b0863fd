import { activityRouter } from '../modules/activity/activity.router.ts';
import { authRouter, tokensRouter } from '../modules/auth/auth.router.ts';
import { opsRouter } from '../modules/ops/ops.router.ts';
import { organizationRouter } from '../modules/tenancy/tenancy.router.ts';
import { router } from './init.ts';

export const appRouter = router({
  auth: authRouter,
  tokens: tokensRouter,
  organization: organizationRouter,
  activity: activityRouter,
  ops: opsRouter,
});

export type AppRouter = typeof appRouter;
