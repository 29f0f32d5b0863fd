import { z } from 'zod';
import { uuid } from '../../../shared/schemas/common.ts';
import { defineJob } from '../../platform/queue/definition.ts';
import type { JobRegistry } from '../../platform/queue/registry.ts';
import type { DataServices } from '../notifications/notifications.service.ts';
import {
  IMPORT_CALLBACKS,
  IMPORT_STEPS,
  fileStepFailed,
  importBatchFinished,
  importChainFailed,
  importStep,
  notifyStep,
  processFileStep,
  reportStep,
  validateStep,
} from './imports.service.ts';

const payload = z.object({ importId: uuid, organizationId: uuid }).strict();

export function registerImportJobs(registry: JobRegistry, s: DataServices): void {
  const step = (name: string, fn: typeof validateStep) =>
    defineJob({
      name,
      queue: 'default',
      payload,
      tries: 3,
      backoff: [2_000, 15_000],
      timeoutMs: 10 * 60_000,
      tags: (p) => [`import:${p.importId}`],
      handle: (p, ctx) => fn(s, ctx, p.importId),
    });
  registry.register(
    step(IMPORT_STEPS.validate, validateStep),
    step(IMPORT_STEPS.import, importStep),
    step(IMPORT_STEPS.report, reportStep),
    step(IMPORT_STEPS.notify, notifyStep),
    // A chain's failure is its catch callback's to record; a file of a batch has no such callback of its own.
    {
      ...step(IMPORT_STEPS.file, processFileStep),
      failed: (p, _f, ctx) => fileStepFailed(s, ctx.em, p.importId),
    },
  );
  registry.callback(IMPORT_CALLBACKS.chainFailed, (event, ctx) => importChainFailed(s, ctx.em, event));
  registry.callback(IMPORT_CALLBACKS.batchFinished, (event, ctx) => importBatchFinished(s, ctx.em, event));
}
