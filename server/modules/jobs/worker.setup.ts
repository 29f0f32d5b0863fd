import type { AppDeps } from '../../app-deps.ts';
import { Worker, type WorkerOptions } from '../../platform/queue/worker.ts';
import { scheduledTasks } from './schedule.ts';

/**
 * The process's worker as `keel work` and `keel dev` run it: the app's scheduled tasks, and (with metrics on) job
 * counts, timings and queue gauges in the metrics console, which flushes only once started.
 */
export function createAppWorker(deps: AppDeps, opts: WorkerOptions = {}): Worker {
  const observer = deps.config.metricsEnabled ? deps.observability.console : undefined;
  observer?.start();
  return new Worker(deps.queue, {
    ...(opts.leader === false ? {} : { tasks: scheduledTasks(deps) }),
    ...(observer ? { observer } : {}),
    ...opts,
  });
}
