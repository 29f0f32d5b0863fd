import { z } from 'zod';
import { uuid } from '../../../shared/schemas/common.ts';
import { defineAppCallback, defineAppJob } from '../jobs/define.ts';
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

const stepOptions = {
  queue: 'default',
  payload,
  tries: 3,
  backoff: [2_000, 15_000],
  timeoutMs: 10 * 60_000,
  tags: (p: z.output<typeof payload>) => [`import:${p.importId}`],
} as const;

const step = (name: string, fn: typeof validateStep) =>
  defineAppJob({ ...stepOptions, name, handle: (p, ctx) => fn(ctx.services, ctx, p.importId) });

export const importJobs = [
  step(IMPORT_STEPS.validate, validateStep),
  step(IMPORT_STEPS.import, importStep),
  step(IMPORT_STEPS.report, reportStep),
  step(IMPORT_STEPS.notify, notifyStep),
  defineAppJob({
    ...stepOptions,
    name: IMPORT_STEPS.file,
    handle: (p, ctx) => processFileStep(ctx.services, ctx, p.importId),
    // A chain's failure is its catch callback's to record; a file of a batch has no such callback of its own.
    failed: (p, _failure, ctx) => fileStepFailed(ctx.services, ctx.em, p.importId),
  }),
];

export const importCallbacks = [
  defineAppCallback(IMPORT_CALLBACKS.chainFailed, (event, ctx) =>
    importChainFailed(ctx.services, ctx.em, event),
  ),
  defineAppCallback(IMPORT_CALLBACKS.batchFinished, (event, ctx) =>
    importBatchFinished(ctx.services, ctx.em, event),
  ),
];
