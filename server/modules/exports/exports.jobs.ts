import { z } from 'zod';
import { uuid } from '../../../shared/schemas/common.ts';
import { defineAppJob } from '../jobs/define.ts';
import { EXPORT_JOB, EXPORT_PURGE_JOB, failExport, purgeExport, runExport } from './exports.service.ts';

const payload = z.object({ exportId: uuid, organizationId: uuid }).strict();

export const exportJob = defineAppJob({
  name: EXPORT_JOB,
  // The request picks the queue by the organization's tier; this is the fallback.
  queue: 'default',
  payload,
  // One export per organization at a time: another one waits (released, not failed) until the first is done.
  // Waiting counts as attempts, so tries are bounded by exceptions and time instead.
  tries: 0,
  maxExceptions: 2,
  retryUntilMs: 6 * 3_600_000,
  backoff: 30_000,
  timeoutMs: 30 * 60_000,
  withoutOverlapping: { key: (p) => p.organizationId, releaseAfterMs: 2_000 },
  tags: (p) => [`org:${p.organizationId}`],
  handle: (p, ctx) => runExport(ctx.services, ctx, p.exportId),
  // The failure's message is internal (SQL, storage): the requester gets the reason recorded for clients.
  failed: (p, _failure, ctx) => failExport(ctx.services, ctx.em, p.exportId),
});

export const exportPurgeJob = defineAppJob({
  name: EXPORT_PURGE_JOB,
  queue: 'low',
  payload,
  tries: 5,
  backoff: [60_000, 600_000],
  handle: (p, ctx) => purgeExport(ctx.services, ctx.em, p.exportId),
});
