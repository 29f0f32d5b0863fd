import type { AppDeps } from '../../app-deps.ts';
import type { ScheduledTask } from '../../platform/queue/scheduler.ts';
import { pruneFailedJobs } from './jobs.service.ts';
import { withDbScope } from '../../platform/db/context.ts';
import { alertEvaluatorOf } from '../alerts/alerts.setup.ts';
import { sweepOutbox } from '../realtime/outbox.ts';
import { reconcileExports } from '../exports/exports.reconcile.ts';
import { reconcileImports } from '../imports/imports.reconcile.ts';
import { sweepStorage } from '../../platform/storage/sweep.ts';
import { purgeExpiredExports } from '../exports/exports.sweep.ts';
import { sweepStaleUploads } from '../imports/imports.sweep.ts';
import { fireDueSchedules } from '../schedules/schedules.fire.ts';
import { syncQueueTiers } from './queue-tenants.ts';

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
      // Imports likewise (the same reconciler): a task of their own, so one kind's trouble does not stop the other.
      name: 'imports:reconcile',
      cron: '20 * * * * *',
      run: async () => {
        await reconcileImports(deps);
      },
    },
    {
      // Temporary files of writes whose writer died (a worker killed mid-export, an upload cut off).
      name: 'storage:sweep',
      cron: '0 40 * * * *',
      run: async () => {
        await sweepStorage(deps);
      },
    },
    {
      // Files of expired exports, by the rows' expiry: the purge job each export queues can be lost with Redis's data.
      name: 'exports:purge-expired',
      cron: '0 45 * * * *',
      run: async () => {
        await purgeExpiredExports(deps);
      },
    },
    {
      // Imports left `uploading` for a day: marked failed, their files deleted.
      name: 'imports:sweep-uploads',
      cron: '0 50 * * * *',
      run: async () => {
        await sweepStaleUploads(deps);
      },
    },
    {
      // Tenants' own schedules (modules/schedules): each run queued once, whichever leader ticks.
      name: 'schedules:fire',
      cron: '0 * * * * *',
      run: async () => {
        await fireDueSchedules({ ...deps, redis: deps.redis.get('queue') });
      },
    },
    {
      name: 'alerts:evaluate',
      cron: '0 * * * * *',
      run: async () => {
        await alerts.evaluate();
      },
    },
    {
      // The plan tiers the queues' fair takes read (ADR 0024): a tier change reaches the caps within a minute.
      name: 'queue:tiers',
      cron: '25 * * * * *',
      run: async () => {
        await withDbScope(deps.em, undefined, (em) => syncQueueTiers(em, deps.queue));
      },
    },
  ];
}
