import { describe, expect, it } from 'vitest';
import { JobRegistry } from '../../platform/queue/registry.ts';
import { stripeEventJob } from '../billing/billing.jobs.ts';
import { EXPORT_JOB, EXPORT_PURGE_JOB } from '../exports/exports.service.ts';
import { IMPORT_CALLBACKS, IMPORT_STEPS } from '../imports/imports.service.ts';
import { MAIL_JOB } from '../notifications/mail-requests.ts';
import { jobDefinitions } from './definitions.ts';

describe('the job definitions list', () => {
  it('holds every job and callback the modules dispatch by name, once', () => {
    const registry = new JobRegistry(jobDefinitions);
    const dispatched = [
      stripeEventJob.name,
      MAIL_JOB,
      EXPORT_JOB,
      EXPORT_PURGE_JOB,
      ...Object.values(IMPORT_STEPS),
    ];
    for (const name of dispatched) expect(registry.get(name), name).toBeDefined();
    for (const name of Object.values(IMPORT_CALLBACKS)) expect(registry.hasCallback(name), name).toBe(true);
  });
});
