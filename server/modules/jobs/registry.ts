import type { AppDeps } from '../../deps.ts';
import type { AnyJobDefinition } from '../../platform/queue/definition.ts';
import { JobRegistry } from '../../platform/queue/registry.ts';
import { stripeEventJob } from '../billing/billing.jobs.ts';
import type { ScheduledTask } from '../../platform/queue/scheduler.ts';
import { pruneFailedJobs } from './jobs.service.ts';
import { withDbScope } from '../../platform/db/context.ts';
import { alertEvaluatorOf } from '../alerts/alerts.setup.ts';
import { sweepOutbox } from '../realtime/outbox.ts';
import { reconcileExports } from '../exports/exports.reconcile.ts';
import { reconcileImports } from '../imports/imports.reconcile.ts';
import { sweepStorage } from '../../platform/storage/sweep.ts';

/**
 * Every module's job definitions, like entities.ts for entities: API processes dispatch from this list and workers
 * run it, so both agree on names and payload schemas. Modules add their `defineJob(...)` results here.
 */
export const jobDefinitions: AnyJobDefinition[] = [stripeEventJob as unknown as AnyJobDefinition];

export function createJobRegistry(): JobRegistry {
  const registry = new JobRegistry();
  for (const def of jobDefinitions) registry.register(def);
  return registry;
}

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
      name: 'alerts:evaluate',
      cron: '0 * * * * *',
      run: async () => {
        await alerts.evaluate();
      },
    },
  ];
}
