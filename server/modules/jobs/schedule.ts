import type { AppDeps } from '../../app-deps.ts';
import type { ScheduledTask } from '../../platform/queue/scheduler.ts';
import { pruneFailedJobs } from './jobs.service.ts';
import { withDbScope } from '../../platform/db/context.ts';
import { alertEvaluatorOf } from '../alerts/alerts.setup.ts';
import { sweepOutbox } from '../realtime/outbox.ts';
import { reconcileExports } from '../exports/exports.service.ts';

/** Cron tasks the leader worker runs (each tick once across the fleet). */
export function scheduledTasks(deps: AppDeps): ScheduledTask[] {
  const alerts = alertEvaluatorOf(deps);
  return [
    {
      name: 'jobs:prune-failed',
      cron: '0 15 3 * * *',
      run: async () => {
        await withDbScope(deps.em, undefined, (em) => pruneFailedJobs(em, 30));
      },
    },
    {
      // Announcements of changes committed while Redis was down (a few seconds late rather than never).
      name: 'realtime:outbox',
      cron: '*/10 * * * * *',
      run: async () => {
        await sweepOutbox(deps.em, { log: deps.realtime.log, logger: deps.logger });
      },
    },
    {
      // Exports whose jobs Redis lost (a restart without persistence) are queued again or failed.
      name: 'exports:reconcile',
      cron: '15 * * * * *',
      run: async () => {
        await reconcileExports(deps);
      },
    },
    {
      name: 'alerts:evaluate',
      cron: '0 * * * * *',
      run: async () => {
        await alerts.evaluate();
      },
    },
  ];
}
