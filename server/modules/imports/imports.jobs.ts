import { z } from 'zod';
import { uuid } from '../../../shared/schemas/common.ts';
import { defineAppCallback, defineAppJob } from '../jobs/define.ts';
import {
  IMPORT_CALLBACKS,
  IMPORT_STEPS,
  importBatchFinished,
  importChainFailed,
  importStep,
  notifyStep,
  processFileStep,
  reportStep,
  validateStep,
} from './imports.service.ts';

const payload = z.object({ importId: uuid, organizationId: uuid }).strict();

const step = (name: string, fn: typeof validateStep) =>
  defineAppJob({
    name,
    queue: 'default',
    payload,
    tries: 3,
    backoff: [2_000, 15_000],
    timeoutMs: 10 * 60_000,
    tags: (p) => [`import:${p.importId}`],
    handle: (p, ctx) => fn(ctx.services, ctx, p.importId),
  });

export const importJobs = [
  step(IMPORT_STEPS.validate, validateStep),
  step(IMPORT_STEPS.import, importStep),
  step(IMPORT_STEPS.report, reportStep),
  step(IMPORT_STEPS.notify, notifyStep),
  step(IMPORT_STEPS.file, processFileStep),
];

export const importCallbacks = [
  defineAppCallback(IMPORT_CALLBACKS.chainFailed, (event, ctx) =>
    importChainFailed(ctx.services, ctx.em, event),
  ),
  defineAppCallback(IMPORT_CALLBACKS.batchFinished, (event, ctx) =>
    importBatchFinished(ctx.services, ctx.em, event),
  ),
];
