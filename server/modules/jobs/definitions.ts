import type { AnyJobDefinition } from '../../platform/queue/definition.ts';
import type { Definition } from '../../platform/queue/registry.ts';
import { stripeEventJob } from '../billing/billing.jobs.ts';
import { exportJob, exportPurgeJob, scheduledExportJob } from '../exports/exports.jobs.ts';
import { importCallbacks, importJobs } from '../imports/imports.jobs.ts';
import { mailJob } from '../notifications/mail.job.ts';

/**
 * Every module's job and callback definitions, like entities.ts for entities: API processes dispatch from this list
 * and workers run it (deps.ts builds the registry from it), so both agree on names and payload schemas. A module
 * adds its `defineJob` / `defineAppJob` constants here.
 */
export const jobDefinitions: readonly Definition[] = [
  stripeEventJob,
  mailJob,
  exportJob,
  exportPurgeJob,
  scheduledExportJob,
  ...importJobs,
  ...importCallbacks,
];

/**
 * The jobs a tenant may put on a schedule of its own (modules/schedules), each also in `jobDefinitions`. A job fit
 * for this acts for its organization (the schedule's), takes a payload a tenant may choose freely, and is safe to
 * run at any hour. shared/schemas/schedules.ts names them for the API.
 */
export const schedulableJobs: readonly AnyJobDefinition[] = [scheduledExportJob];
