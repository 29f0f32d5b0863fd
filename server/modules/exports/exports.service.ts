import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { IsolationLevel, UniqueConstraintViolationException } from '@mikro-orm/core';
import { AppError, clientMessage } from '../../../shared/errors.ts';
import {
  exportFilters,
  type ExportFilters,
  type ExportOutput,
  type ExportStatus,
} from '../../../shared/schemas/exports.ts';
import type { OrganizationTier } from '../../../shared/schemas/tenancy.ts';
import { withDbScope, type Em } from '../../platform/db/context.ts';
import type { JobContext, QueueName } from '../../platform/queue/definition.ts';
import { PermanentFailure } from '../../platform/queue/failure.ts';
import { MAX_PRESIGN_SECONDS } from '../../platform/storage/s3.ts';
import { pageAcrossTenants } from '../../platform/db/across-tenants.ts';
import { appLink, notifyInApp, sendMail, type DataServices } from '../notifications/notifications.service.ts';
import { reportJobProgress, type JobProgressInput } from '../realtime/realtime.service.ts';
import { countRecords, CSV_HEADER, recordCsvChunks, type RecordFilters } from '../records/records.csv.ts';
import { DataExport, type IDataExport, type StoredExportFilters } from './export.entity.ts';

export const EXPORT_JOB = 'exports.run';
export const EXPORT_PURGE_JOB = 'exports.purge';
export const SCHEDULED_EXPORT_JOB = 'exports.scheduled';
/** Download links (and the file behind them) live this long: the longest a SigV4 presigned URL can. */
export const EXPORT_TTL_SECONDS = MAX_PRESIGN_SECONDS;
/** An identical request this soon after another one gets that one back instead of a new export. */
export const DUPLICATE_WINDOW_MS = 3_600_000;
const ACTIVE: ExportStatus[] = ['queued', 'running'];
const CANCEL_POLL_MS = 500;

/** Bigger customers' exports go ahead of smaller ones' on a busy worker fleet. */
export function queueForTier(tier: OrganizationTier): QueueName {
  return tier === 'enterprise' ? 'high' : tier === 'professional' ? 'default' : 'low';
}

export function storedFilters(f: ExportFilters): StoredExportFilters {
  return {
    from: f.from ? f.from.toISOString() : null,
    to: f.to ? f.to.toISOString() : null,
    statuses: f.statuses ?? null,
  };
}

const filtersHash = (f: StoredExportFilters) =>
  createHash('sha256')
    .update(JSON.stringify([f.from, f.to, f.statuses]))
    .digest('hex');

const recordFilters = (f: StoredExportFilters): RecordFilters => ({
  from: f.from ? new Date(f.from) : null,
  to: f.to ? new Date(f.to) : null,
  statuses: f.statuses,
});

export function toExportOutput(e: IDataExport): ExportOutput {
  return {
    id: e.id,
    status: e.status,
    filters: e.filters,
    queue: e.queue,
    rowCount: e.rowCount ?? null,
    totalRows: e.totalRows ?? null,
    bytes: e.bytes ?? null,
    error: e.error ?? null,
    requestedBy: e.requestedBy?.id ?? null,
    createdAt: e.createdAt,
    startedAt: e.startedAt ?? null,
    finishedAt: e.finishedAt ?? null,
    expiresAt: e.expiresAt ?? null,
  };
}

export const exportFilename = (e: Pick<IDataExport, 'createdAt'>) =>
  `records-${e.createdAt.toISOString().slice(0, 10)}.csv`;
const exportKey = (organizationId: string, id: string) => `exports/${organizationId}/${id}.csv`;

function progress(
  s: Pick<DataServices, 'realtime' | 'logger'>,
  organizationId: string,
  p: Omit<JobProgressInput, 'kind'>,
) {
  return reportJobProgress(s.realtime, organizationId, { kind: 'export', ...p }).catch((err: unknown) =>
    s.logger.warn({ err, exportId: p.jobId }, 'export progress not published'),
  );
}

/**
 * Requests an export of the organization's records. Limited by the `exports` policy per organization (duplicates
 * count: each request costs). The same filters within the hour return the export already made or under way
 * (`duplicate: true`) instead of starting another; a partial unique index settles two identical requests racing.
 */
export async function requestExport(
  s: DataServices,
  em: Em,
  input: {
    organization: { id: string; tier: OrganizationTier };
    /** Null for an export a schedule requested: nobody is notified in the app. */
    userId: string | null;
    filters: ExportFilters;
  },
): Promise<{ export: IDataExport; duplicate: boolean }> {
  const organizationId = input.organization.id;
  await s.rateLimits.enforce('exports', `org:${organizationId}`);
  const filters = storedFilters(input.filters);
  const hash = filtersHash(filters);
  // One still queued or running is returned whatever its age: the partial unique index allows no second one (an
  // older one used to fall outside the window and the insert answered 500).
  const recent = () =>
    em.findOne(
      DataExport,
      {
        filtersHash: hash,
        $or: [
          { status: { $in: ACTIVE } },
          { status: 'completed', createdAt: { $gt: new Date(Date.now() - DUPLICATE_WINDOW_MS) } },
        ],
      },
      { orderBy: { createdAt: 'desc' }, refresh: true },
    );
  const existing = await recent();
  if (existing) return { export: existing, duplicate: true };

  const queue = queueForTier(input.organization.tier);
  const row = em.create(DataExport, {
    organization: organizationId,
    requestedBy: input.userId,
    filters,
    filtersHash: hash,
    status: 'queued',
    queue,
  });
  try {
    await em.flush();
  } catch (err) {
    if (!(err instanceof UniqueConstraintViolationException)) throw err;
    em.clear();
    const winner = await recent();
    if (winner) return { export: winner, duplicate: true };
    throw err;
  }
  try {
    const dispatched = await s.queue.dispatch(
      EXPORT_JOB,
      { exportId: row.id, organizationId },
      { queue, organizationId, tags: [`export:${row.id}`] },
    );
    row.jobId = dispatched.id;
  } catch (err) {
    row.status = 'failed';
    row.error = 'Could not be queued';
    row.finishedAt = new Date();
    await em.flush();
    throw err;
  }
  await em.flush();
  await progress(s, organizationId, {
    jobId: row.id,
    status: 'queued',
    progress: 0,
    processed: 0,
    total: null,
    message: 'Queued',
  });
  return { export: row, duplicate: false };
}

export async function listExports(
  em: Em,
  opts: { status?: ExportStatus | undefined; limit: number; offset: number },
): Promise<{ items: IDataExport[]; total: number }> {
  const [items, total] = await em.findAndCount(DataExport, opts.status ? { status: opts.status } : {}, {
    orderBy: { createdAt: 'desc', id: 'desc' },
    limit: opts.limit,
    offset: opts.offset,
  });
  return { items, total };
}

export async function getExport(em: Em, id: string): Promise<IDataExport> {
  const row = await em.findOne(DataExport, { id }, { refresh: true });
  if (!row) throw new AppError('NOT_FOUND', 'Export not found');
  return row;
}

/** Stops an export: a queued one at once, a running one within a second (its partial file is removed). */
export async function cancelExport(s: DataServices, em: Em, id: string): Promise<IDataExport> {
  const row = await getExport(em, id);
  if (!ACTIVE.includes(row.status)) {
    throw new AppError('CONFLICT', `This export is already ${row.status}`);
  }
  row.cancelRequestedAt = new Date();
  if (row.status === 'queued') {
    row.status = 'cancelled';
    row.finishedAt = new Date();
    row.error = 'Cancelled';
  }
  await em.flush();
  if (row.status === 'cancelled') {
    await progress(s, row.organization.id, {
      jobId: row.id,
      status: 'cancelled',
      progress: null,
      processed: null,
      total: null,
      message: 'Cancelled',
    });
  }
  return row;
}

export async function exportDownload(
  s: Pick<DataServices, 'storage'>,
  row: IDataExport,
): Promise<{ url: string; expiresAt: Date; filename: string }> {
  if (row.status !== 'completed' || !row.fileKey || !row.expiresAt) {
    throw new AppError('CONFLICT', `This export is ${row.status}; there is nothing to download`);
  }
  const seconds = Math.floor((row.expiresAt.getTime() - Date.now()) / 1000);
  if (seconds <= 0) throw new AppError('NOT_FOUND', 'This export has expired; request a new one');
  const filename = exportFilename(row);
  return {
    url: await s.storage.downloadUrl(row.fileKey, { expiresInSeconds: seconds, filename }),
    expiresAt: row.expiresAt,
    filename,
  };
}

class ExportCancelled extends Error {
  override name = 'ExportCancelled';
  constructor() {
    super('Cancelled');
  }
}

/**
 * The export job: streams the organization's records from PostgreSQL (a cursor, in a read-only repeatable-read
 * transaction for a consistent file) into storage while the bytes are produced, reporting progress. Memory stays
 * at a few chunks whatever the row count. A cancellation or failure removes the partial file; success ends with a
 * 7-day link, an email and a purge queued for when the link expires.
 */
export async function runExport(
  s: DataServices,
  ctx: Pick<JobContext, 'em' | 'signal' | 'logger' | 'attempt'>,
  exportId: string,
): Promise<{ status: ExportStatus; rows?: number }> {
  const em = ctx.em;
  const row = await em.findOne(DataExport, { id: exportId }, { refresh: true });
  if (!row) return { status: 'failed' };
  const organizationId = row.organization.id;
  if (row.status === 'completed' || row.status === 'cancelled' || row.status === 'failed')
    return { status: row.status };
  if (row.cancelRequestedAt) return finishCancelled(s, em, row);
  // Filters stored before the request schema limited dates (or written by other means) can never be exported:
  // the job fails once, saying why, instead of retrying a query PostgreSQL will always refuse.
  if (!exportFilters.safeParse(row.filters).success) {
    row.error = UNUSABLE_FILTERS;
    await em.flush();
    throw new PermanentFailure(`Export ${row.id} has filters that cannot be queried`);
  }

  row.status = 'running';
  row.startedAt = new Date();
  row.error = null;
  await em.flush();
  await progress(s, organizationId, {
    jobId: row.id,
    status: 'running',
    progress: 0,
    processed: 0,
    total: null,
    message: 'Counting rows',
  });

  const abort = new AbortController();
  const onJobAbort = () => abort.abort(ctx.signal.reason);
  ctx.signal.addEventListener('abort', onJobAbort, { once: true });
  // A cancellation is a column another request sets; polling it keeps the job independent of which process runs it.
  const poll = setInterval(() => {
    void withDbScope(s.em, organizationId, (scoped) =>
      scoped.findOne(DataExport, { id: exportId }, { fields: ['cancelRequestedAt'] }),
    )
      .then((r) => {
        if (r?.cancelRequestedAt && !abort.signal.aborted) abort.abort(new ExportCancelled());
      })
      .catch((err: unknown) => ctx.logger.warn({ err }, 'export cancel check failed'));
  }, CANCEL_POLL_MS);

  const key = exportKey(organizationId, row.id);
  const filters = recordFilters(row.filters);
  try {
    // An earlier attempt whose worker was killed mid-write left its temporary file. This attempt owns the key (one
    // export per organization runs at a time, and one job id never twice at once).
    await s.storage.discardIncomplete?.(key);
    const { rows, bytes, total } = await em.transactional(
      async (tx) => {
        const total = await countRecords(tx, organizationId, filters);
        let rows = 0;
        async function* csv() {
          yield Buffer.from(CSV_HEADER);
          for await (const chunk of recordCsvChunks(tx, organizationId, filters)) {
            abort.signal.throwIfAborted();
            rows += chunk.rows;
            void progress(s, organizationId, {
              jobId: exportId,
              status: 'running',
              progress: total ? Math.min(1, rows / total) : null,
              processed: rows,
              total,
              message: `${rows.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} rows`,
            });
            yield chunk.data;
          }
        }
        // highWaterMark 1: the stream asks for the next chunk only once the store has taken the previous one.
        const body = Readable.from(csv(), { objectMode: false, highWaterMark: 1 });
        try {
          const stored = await s.storage.put(key, body, {
            contentType: 'text/csv; charset=utf-8',
            signal: abort.signal,
          });
          return { rows, bytes: stored.bytes, total };
        } finally {
          // A store that gave up without consuming or destroying the stream leaves the generator suspended with its
          // cursor open on this transaction's connection, and the rollback would queue behind it for ever. Ending
          // the stream here returns the generator (closing the cursor) before the transaction ends.
          if (!body.destroyed) body.destroy();
          await finished(body).catch(() => undefined);
        }
      },
      { readOnly: true, isolationLevel: IsolationLevel.REPEATABLE_READ },
    );
    const expiresAt = new Date(Date.now() + EXPORT_TTL_SECONDS * 1000);
    Object.assign(row, {
      status: 'completed',
      rowCount: rows,
      totalRows: total,
      bytes,
      fileKey: key,
      finishedAt: new Date(),
      expiresAt,
    });
    await em.flush();
    await progress(s, organizationId, {
      jobId: row.id,
      status: 'completed',
      progress: 1,
      processed: rows,
      total: rows,
      message: `${rows.toLocaleString('en-US')} rows exported`,
    });
    await s.queue
      .dispatch(
        EXPORT_PURGE_JOB,
        { exportId: row.id, organizationId },
        { organizationId, delayMs: EXPORT_TTL_SECONDS * 1000 },
      )
      .catch((err: unknown) => ctx.logger.warn({ err }, 'export purge not scheduled'));
    await announce(s, row, 'ready');
    return { status: 'completed', rows };
  } catch (err) {
    await s.storage.delete(key).catch(() => undefined);
    em.clear();
    const fresh = await em.findOne(DataExport, { id: exportId }, { refresh: true });
    if (!fresh) throw err;
    if (abort.signal.reason instanceof ExportCancelled || fresh.cancelRequestedAt)
      return finishCancelled(s, em, fresh);
    // Back to queued until the queue decides: a retry runs it again, the last failure calls failExport. The
    // requester sees why only when it is meant for them; the cause itself stays in the job's record (staff).
    fresh.status = 'queued';
    fresh.error = clientMessage(err, EXPORT_FAILED).slice(0, 500);
    await em.flush();
    throw err;
  } finally {
    clearInterval(poll);
    ctx.signal.removeEventListener('abort', onJobAbort);
  }
}

async function finishCancelled(s: DataServices, em: Em, row: IDataExport): Promise<{ status: ExportStatus }> {
  row.status = 'cancelled';
  row.error = 'Cancelled';
  row.finishedAt = new Date();
  row.fileKey = null;
  await em.flush();
  await progress(s, row.organization.id, {
    jobId: row.id,
    status: 'cancelled',
    progress: null,
    processed: row.rowCount ?? null,
    total: row.totalRows ?? null,
    message: 'Cancelled; no file was kept',
  });
  return { status: 'cancelled' };
}

export const UNUSABLE_FILTERS = 'The export cannot run: its dates must be between the years 1900 and 9999';

/** What the requester is told when an export failed for a reason not meant for them. */
export const EXPORT_FAILED =
  'The export could not be completed; try again, or contact support if it keeps failing';

/**
 * The job's last attempt failed: record why, tell the requester. `reason` is shown to them: without one, the
 * reason the last attempt recorded (already fit for clients), or EXPORT_FAILED. Called by the job's `failed()` hook
 * and by the reconciler (when that hook could not reach the database): the row changes to failed in one conditional
 * UPDATE, and only the caller that changed it tells the requester, so they hear it once.
 */
export async function failExport(s: DataServices, em: Em, exportId: string, reason?: string): Promise<void> {
  const row = await em.findOne(DataExport, { id: exportId }, { refresh: true });
  if (!row || !ACTIVE.includes(row.status)) return;
  if (row.fileKey) await s.storage.delete(row.fileKey).catch(() => undefined);
  // The last attempt may have died mid-write (a job that stalled too often): nothing will write this key again.
  await s.storage.discardIncomplete?.(exportKey(row.organization.id, row.id)).catch(() => undefined);
  const error = (reason ?? row.error ?? EXPORT_FAILED).slice(0, 500);
  const changed = await em.nativeUpdate(
    DataExport,
    { id: exportId, status: { $in: ACTIVE } },
    { status: 'failed', error, fileKey: null, finishedAt: new Date() },
  );
  if (changed === 0) return;
  const failed = await em.findOneOrFail(DataExport, { id: exportId }, { refresh: true });
  await progress(s, failed.organization.id, {
    jobId: failed.id,
    status: 'failed',
    progress: null,
    processed: null,
    total: null,
    message: error,
  });
  await announce(s, failed, 'failed');
}

/** The requester is told: an email (written by the mail job, which signs the download link then) and in-app. */
async function announce(s: DataServices, row: IDataExport, outcome: 'ready' | 'failed'): Promise<void> {
  const userId = row.requestedBy?.id;
  if (!userId) return;
  const organizationId = row.organization.id;
  await sendMail(
    s.queue,
    { template: outcome === 'ready' ? 'export-ready' : 'export-failed', exportId: row.id },
    organizationId,
  );
  await notifyInApp(s, userId, {
    type: outcome === 'ready' ? 'export.ready' : 'export.failed',
    title: outcome === 'ready' ? 'Your export is ready' : 'Your export failed',
    body: outcome === 'ready' ? `${row.rowCount ?? 0} rows` : row.error,
    organizationId,
    data: { exportId: row.id, link: appLink(s.config, '/app/exports') },
  });
}

/** The link has expired: the file goes too (the purge job queued at completion, and the sweep in exports.sweep.ts). */
export async function purgeExport(s: DataServices, em: Em, exportId: string): Promise<void> {
  const row = await em.findOne(DataExport, { id: exportId }, { refresh: true });
  if (!row?.fileKey) return;
  await s.storage.delete(row.fileKey);
  row.fileKey = null;
  await em.flush();
}

/** Ops: every organization's exports (explicitly unfiltered; staff only, through opsProcedure). */
export async function listAllExports(
  rootEm: Em,
  opts: {
    organizationId?: string | undefined;
    status?: ExportStatus | undefined;
    limit: number;
    offset: number;
  },
) {
  const { items, total } = await pageAcrossTenants(rootEm, DataExport, {
    ...opts,
    where: opts.status ? { status: opts.status } : {},
  });
  return { items: items.map((e) => ({ ...toExportOutput(e), organizationId: e.organization.id })), total };
}
