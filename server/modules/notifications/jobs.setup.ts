import type { JobRegistry } from '../../platform/queue/registry.ts';
import { createExportJobs } from '../exports/exports.jobs.ts';
import { registerImportJobs } from '../imports/imports.jobs.ts';
import { createMailJob } from './mail.job.ts';
import type { DataServices } from './notifications.service.ts';

/**
 * Mail, export and import jobs need the process's storage, mailer, limits and realtime, which module-level job
 * definitions cannot reach; they are built here from the process's services and registered on its job registry
 * (deps.ts does it when the queue system is created, so API processes and workers agree on them).
 */
export function registerDataJobs(registry: JobRegistry, s: DataServices): JobRegistry {
  registry.register(createMailJob(s));
  for (const job of createExportJobs(s)) registry.register(job);
  registerImportJobs(registry, s);
  return registry;
}
