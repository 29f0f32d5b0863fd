import { activityRouter } from '../modules/activity/activity.router.ts';
import { authRouter, tokensRouter } from '../modules/auth/auth.router.ts';
import { billingRouter } from '../modules/billing/billing.router.ts';
import { dashboardRouter } from '../modules/dashboard/dashboard.router.ts';
import { documentsRouter } from '../modules/documents/documents.router.ts';
import { flagsRouter } from '../modules/flags/flags.router.ts';
import { opsRouter } from '../modules/ops/ops.router.ts';
import { exportsRouter } from '../modules/exports/exports.router.ts';
import { importsRouter } from '../modules/imports/imports.router.ts';
import { invitationsRouter } from '../modules/invitations/invitations.router.ts';
import { passwordResetRouter } from '../modules/auth/password-reset.router.ts';
import {
  jobsRealtimeRouter,
  orgRealtimeRouter,
  userRealtimeRouter,
} from '../modules/realtime/realtime.router.ts';
import { schedulesRouter } from '../modules/schedules/schedules.router.ts';
import { organizationRouter } from '../modules/tenancy/tenancy.router.ts';
import { router } from './init.ts';

export const appRouter = router({
  auth: authRouter,
  tokens: tokensRouter,
  organization: organizationRouter,
  activity: activityRouter,
  ops: opsRouter,
  dashboard: dashboardRouter,
  flags: flagsRouter,
  documents: documentsRouter,
  org: orgRealtimeRouter,
  user: userRealtimeRouter,
  jobs: jobsRealtimeRouter,
  billing: billingRouter,
  exports: exportsRouter,
  imports: importsRouter,
  invitations: invitationsRouter,
  passwordReset: passwordResetRouter,
  schedules: schedulesRouter,
});

export type AppRouter = typeof appRouter;
