import { z } from 'zod';
import { uuid } from '../../../shared/schemas/common.ts';
import { defineAppJob } from '../jobs/define.ts';
import { RECORD_STATUSES } from '../../../shared/schemas/records.ts';
import { Organization } from '../tenancy/organization.entity.ts';
import {
  EXPORT_JOB,
  EXPORT_PURGE_JOB,
  failExport,
  purgeExport,
  requestExport,
  runExport,
  SCHEDULED_EXPORT_JOB,
} from './exports.service.ts';

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

const DAY_MS = 86_400_000;

/**
 * A schedulable job (modules/jobs/definitions.ts): requests an export of the records created in the last
 * `lastDays` days, as a person would, under the organization's export limit. The schedule's organization is the
 * job's; the export has no requester, so nobody is notified in the app (the file is in the exports list).
 */
export const scheduledExportJob = defineAppJob({
  name: SCHEDULED_EXPORT_JOB,
  queue: 'low',
  payload: z
    .object({
      lastDays: z.number().int().min(1).max(366),
      statuses: z.array(z.enum(RECORD_STATUSES)).max(RECORD_STATUSES.length).optional(),
    })
    .strict(),
  backoff: [60_000, 300_000],
  async handle(p, ctx) {
    if (!ctx.organizationId) throw new Error('A scheduled export needs an organization');
    const org = await ctx.em.findOneOrFail(Organization, { id: ctx.organizationId });
    const to = new Date();
    const statuses = p.statuses?.length ? [...new Set(p.statuses)].sort() : null;
    const r = await requestExport(ctx.services, ctx.em, {
      organization: { id: org.id, tier: org.tier },
      userId: null,
      filters: { from: new Date(to.getTime() - p.lastDays * DAY_MS), to, statuses },
    });
    return { exportId: r.export.id, duplicate: r.duplicate };
  },
});
