import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { AppError } from '../../../shared/errors.ts';
import {
  MAX_IMPORT_BYTES,
  type ImportOutput,
  type ImportRowError,
  type ImportStatus,
} from '../../../shared/schemas/imports.ts';
import { csvCell, csvLine } from '../../platform/csv/cell.ts';
import type { Em } from '../../platform/db/context.ts';
import { pageAcrossTenants } from '../../platform/db/across-tenants.ts';
import type { CallbackEvent } from '../../platform/queue/definition.ts';
import { uploadUrl, type UploadTarget } from '../../platform/storage/create.ts';
import { User } from '../auth/user.entity.ts';
import { appLink, notifyInApp, sendMail, type DataServices } from '../notifications/notifications.service.ts';
import { reportJobProgress, type JobProgressInput } from '../realtime/realtime.service.ts';
import { BusinessRecord } from '../records/record.entity.ts';
import { scanRecordsCsv, type ImportRow } from '../records/records.import.ts';
import { Membership } from '../tenancy/membership.entity.ts';
import { Organization } from '../tenancy/organization.entity.ts';
import { DataImport, type IDataImport } from './import.entity.ts';

export const IMPORT_STEPS = {
  validate: 'imports.validate',
  import: 'imports.import',
  report: 'imports.report',
  notify: 'imports.notify',
  file: 'imports.process-file',
} as const;
export const IMPORT_CALLBACKS = {
  chainFailed: 'imports.chain-failed',
  batchFinished: 'imports.batch-finished',
};

const UPLOAD_URL_SECONDS = 15 * 60;
const REPORT_URL_SECONDS = 7 * 24 * 3600;
/** Problems kept on the row (and shown in lists); the report file has all of them, up to REPORT_MAX_LINES. */
const STORED_ERRORS = 100;
const REPORT_MAX_LINES = 100_000;
const INSERT_CHUNK = 1_000;
const SNIFF_BYTES = 4096;
const TERMINAL: ImportStatus[] = ['completed', 'invalid', 'failed'];

export function toImportOutput(i: IDataImport): ImportOutput {
  return {
    id: i.id,
    filename: i.filename,
    status: i.status,
    bytes: i.bytes ?? null,
    totalRows: i.totalRows ?? null,
    importedRows: i.importedRows ?? null,
    errorCount: i.errorCount,
    errors: i.errors,
    error: i.error ?? null,
    batchId: i.batchId ?? null,
    hasReport: Boolean(i.reportKey),
    requestedBy: i.requestedBy?.id ?? null,
    createdAt: i.createdAt,
    finishedAt: i.finishedAt ?? null,
  };
}

function progress(s: Pick<DataServices, 'realtime' | 'logger'>, organizationId: string, p: JobProgressInput) {
  return reportJobProgress(s.realtime, organizationId, p).catch((err: unknown) =>
    s.logger.warn({ err, jobId: p.jobId }, 'import progress not published'),
  );
}

// ------------------------------------------------------------------------------------------------ requests

/**
 * Step one of an import: a row for the file and a signed URL that accepts one PUT of at most the declared size
 * (itself at most 10 MB) for 15 minutes. The file goes straight to storage; nothing is read until `start`.
 */
export async function createUpload(
  s: Pick<DataServices, 'config'>,
  em: Em,
  input: { organizationId: string; userId: string; filename: string; size: number },
): Promise<{ row: IDataImport; upload: UploadTarget }> {
  const id = randomUUID();
  const fileKey = `imports/${input.organizationId}/${id}/upload.csv`;
  const maxBytes = Math.min(input.size, MAX_IMPORT_BYTES);
  const row = em.create(DataImport, {
    id,
    organization: input.organizationId,
    requestedBy: input.userId,
    filename: input.filename,
    fileKey,
    maxBytes,
    status: 'uploading',
  });
  await em.flush();
  return { row, upload: uploadUrl(s.config, fileKey, { maxBytes, expiresInSeconds: UPLOAD_URL_SECONDS }) };
}

export async function getImport(em: Em, id: string): Promise<IDataImport> {
  const row = await em.findOne(DataImport, { id }, { refresh: true });
  if (!row) throw new AppError('NOT_FOUND', 'Import not found');
  return row;
}

/** The upload is there, within its limits, and starts like text: otherwise the import is refused now, with why. */
async function checkUpload(s: DataServices, em: Em, row: IDataImport): Promise<void> {
  if (row.status !== 'uploading') throw new AppError('CONFLICT', `This import is already ${row.status}`);
  const info = await s.storage.head(row.fileKey);
  if (!info) {
    throw new AppError('VALIDATION_FAILED', `${row.filename} has not been uploaded yet`, {
      fieldErrors: { importId: ['upload the file to its uploadUrl first'] },
    });
  }
  const refuse = async (code: 'VALIDATION_FAILED' | 'PAYLOAD_TOO_LARGE', message: string) => {
    row.status = 'invalid';
    row.error = message;
    row.bytes = info.bytes;
    row.finishedAt = new Date();
    await em.flush();
    await s.storage.delete(row.fileKey).catch(() => undefined);
    throw new AppError(code, message, { fieldErrors: { file: [message] } });
  };
  if (info.bytes > Math.min(row.maxBytes, MAX_IMPORT_BYTES)) {
    await refuse('PAYLOAD_TOO_LARGE', `${row.filename} is larger than ${MAX_IMPORT_BYTES / 1024 / 1024} MB`);
  }
  if (info.bytes === 0) await refuse('VALIDATION_FAILED', `${row.filename} is empty`);
  const head = await sniff(s, row.fileKey);
  if (!looksLikeText(head))
    await refuse('VALIDATION_FAILED', `${row.filename} is not a CSV text file (binary content)`);
  row.bytes = info.bytes;
}

async function sniff(s: DataServices, key: string): Promise<Buffer> {
  const stream = await s.storage.get(key);
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      parts.push(chunk);
      size += chunk.length;
      if (size >= SNIFF_BYTES) break;
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(parts).subarray(0, SNIFF_BYTES);
}

function looksLikeText(head: Buffer): boolean {
  if (head.includes(0)) return false;
  try {
    // stream: true tolerates a multi-byte character cut at the end of the sample.
    new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: true });
    return true;
  } catch {
    return false;
  }
}

/** Step two: checks the upload, then queues the chain validate → import → report → notify. */
export async function startImport(s: DataServices, em: Em, id: string): Promise<IDataImport> {
  const row = await getImport(em, id);
  await checkUpload(s, em, row);
  row.status = 'queued';
  // When it was queued: the reconciler gives a row this long to get its job before it counts it lost.
  row.startedAt = new Date();
  await em.flush();
  await queueImport(s, em, row);
  await progress(s, row.organization.id, {
    jobId: row.id,
    kind: 'import',
    status: 'queued',
    progress: 0,
    processed: 0,
    total: null,
    message: 'Queued',
  });
  return row;
}

/**
 * Queues the import's work and records the job on the row: a file of a batch gets its process-file job (it is queued
 * again this way only by the reconciler: the queue's batch went with Redis's data), any other the whole chain. Each
 * step does nothing once the row is past it, so a chain queued again resumes where the lost one stopped.
 */
export async function queueImport(s: DataServices, em: Em, row: IDataImport): Promise<void> {
  const organizationId = row.organization.id;
  const payload = { importId: row.id, organizationId };
  if (row.batchId) {
    row.jobId = (await s.queue.dispatch(IMPORT_STEPS.file, payload, { organizationId })).id;
  } else {
    const { chainId } = await s.queue.chain(
      [
        { job: IMPORT_STEPS.validate, payload },
        { job: IMPORT_STEPS.import, payload },
        { job: IMPORT_STEPS.report, payload },
        { job: IMPORT_STEPS.notify, payload },
      ],
      { organizationId, catch: IMPORT_CALLBACKS.chainFailed },
    );
    row.jobId = chainId;
  }
  await em.flush();
}

/**
 * Up to 50 uploaded files imported in parallel as one batch: each file is validated and imported (or reported) on
 * its own, a bad file does not stop the others, overall progress is published per file, and one summary is sent
 * when all are done.
 */
export async function startBatch(
  s: DataServices,
  em: Em,
  ids: string[],
): Promise<{ batchId: string; rows: IDataImport[] }> {
  const rows = await em.find(DataImport, { id: { $in: ids } }, { refresh: true });
  const missing = ids.filter((id) => !rows.some((r) => r.id === id));
  if (missing.length) throw new AppError('NOT_FOUND', `Imports not found: ${missing.join(', ')}`);
  const problems: Record<string, string[]> = {};
  for (const row of rows) {
    try {
      await checkUpload(s, em, row);
    } catch (err) {
      problems[row.id] = [err instanceof Error ? err.message : String(err)];
    }
  }
  if (Object.keys(problems).length) {
    throw new AppError(
      'VALIDATION_FAILED',
      `${Object.keys(problems).length} of the files cannot be imported`,
      {
        fieldErrors: problems,
      },
    );
  }
  const organizationId = rows[0]!.organization.id;
  const batchId = randomUUID();
  const queuedAt = new Date();
  for (const row of rows) {
    row.status = 'queued';
    row.batchId = batchId;
    row.startedAt = queuedAt;
  }
  await em.flush();
  // The queue's batch has its own id; ours is the one clients know (imports.batch, jobs.progress).
  const batch = await s.queue.batch(
    rows.map((r) => ({ job: IMPORT_STEPS.file, payload: { importId: r.id, organizationId } })),
    {
      name: `imports:${batchId}`,
      allowFailures: true,
      finally: IMPORT_CALLBACKS.batchFinished,
      organizationId,
    },
  );
  rows.forEach((r, i) => (r.jobId = batch.jobIds[i] ?? null));
  await em.flush();
  await progress(s, organizationId, {
    jobId: batchId,
    kind: 'batch',
    status: 'queued',
    progress: 0,
    processed: 0,
    total: rows.length,
    message: `${rows.length} files queued`,
  });
  return { batchId, rows };
}

export async function listImports(
  em: Em,
  opts: { batchId?: string | undefined; status?: ImportStatus | undefined; limit: number; offset: number },
): Promise<{ items: IDataImport[]; total: number }> {
  const [items, total] = await em.findAndCount(
    DataImport,
    { ...(opts.batchId ? { batchId: opts.batchId } : {}), ...(opts.status ? { status: opts.status } : {}) },
    { orderBy: { createdAt: 'desc', id: 'desc' }, limit: opts.limit, offset: opts.offset },
  );
  return { items, total };
}

export async function batchSummary(em: Em, batchId: string) {
  const rows = await em.find(DataImport, { batchId }, { refresh: true });
  if (!rows.length) throw new AppError('NOT_FOUND', 'Batch not found');
  const count = (st: ImportStatus) => rows.filter((r) => r.status === st).length;
  const finished = rows.filter((r) => TERMINAL.includes(r.status)).length;
  return {
    batchId,
    files: rows.length,
    finished,
    completed: count('completed'),
    invalid: count('invalid'),
    failed: count('failed'),
    rows: rows.reduce((n, r) => n + (r.importedRows ?? 0), 0),
    progress: finished / rows.length,
    requestedBy: rows[0]!.requestedBy?.id ?? null,
    organizationId: rows[0]!.organization.id,
  };
}

export async function reportDownload(
  s: Pick<DataServices, 'storage'>,
  row: IDataImport,
): Promise<{ url: string; expiresAt: Date; filename: string }> {
  if (!row.reportKey) throw new AppError('NOT_FOUND', 'This import has no report');
  const filename = `${row.filename.replace(/\.(csv|txt)$/i, '')}-report.csv`;
  return {
    url: await s.storage.downloadUrl(row.reportKey, { expiresInSeconds: REPORT_URL_SECONDS, filename }),
    expiresAt: new Date(Date.now() + REPORT_URL_SECONDS * 1000),
    filename,
  };
}

// ----------------------------------------------------------------------------------------------- the steps

interface StepContext {
  em: Em;
  signal: AbortSignal;
}

async function memberEmails(em: Em): Promise<Map<string, string>> {
  const members = await em.find(Membership, {}, { populate: ['user'] });
  return new Map(members.map((m) => [m.user.email.toLowerCase(), m.user.id]));
}

/** Reads the whole file once, recording how many rows it has and every problem (the first 100 on the row). */
export async function validateStep(s: DataServices, ctx: StepContext, importId: string): Promise<void> {
  const row = await ctx.em.findOne(DataImport, { id: importId }, { refresh: true });
  if (!row || (row.status !== 'queued' && row.status !== 'validating')) return;
  row.status = 'validating';
  row.startedAt ??= new Date();
  await ctx.em.flush();
  await progress(s, row.organization.id, {
    jobId: row.id,
    kind: 'import',
    status: 'running',
    progress: 0,
    processed: 0,
    total: null,
    message: 'Validating',
  });
  const errors: ImportRowError[] = [];
  const result = await scanRecordsCsv(await s.storage.get(row.fileKey), {
    members: await memberEmails(ctx.em),
    signal: ctx.signal,
    onError: (e) => void (errors.length < STORED_ERRORS && errors.push(e)),
  });
  row.totalRows = result.rows;
  row.errorCount = result.errorCount;
  row.errors = errors;
  if (result.errorCount) {
    row.status = 'invalid';
    row.error = result.fatal
      ? `The file cannot be read: ${result.fatal.reason}`
      : `${result.errorCount} problems found`;
    row.finishedAt = new Date();
  } else {
    row.status = 'importing';
  }
  await ctx.em.flush();
}

class InvalidDuringImport extends Error {
  override name = 'InvalidDuringImport';
}

/**
 * Inserts every row in one transaction, validating each again on the way (members may have changed since the
 * validation step): one problem and nothing is written. A retry after a crash finds the status already `completed`
 * (it commits with the rows) and does nothing.
 */
export async function importStep(s: DataServices, ctx: StepContext, importId: string): Promise<void> {
  const row = await ctx.em.findOne(DataImport, { id: importId }, { refresh: true });
  if (row?.status !== 'importing') return;
  const organizationId = row.organization.id;
  const total = row.totalRows ?? 0;
  const errors: ImportRowError[] = [];
  try {
    const imported = await ctx.em.transactional(async (tx) => {
      let pending: ImportRow[] = [];
      let written = 0;
      const flush = async () => {
        if (!pending.length) return;
        await tx.insertMany(
          BusinessRecord,
          pending.map((r) => ({
            id: randomUUID(),
            organization: organizationId,
            user: r.userId,
            category: r.category,
            status: r.status,
            amount: r.amount,
            createdAt: r.createdAt,
          })),
        );
        written += pending.length;
        pending = [];
        void progress(s, organizationId, {
          jobId: importId,
          kind: 'import',
          status: 'running',
          progress: total ? Math.min(1, written / total) : null,
          processed: written,
          total,
          message: `Imported ${written} of ${total} rows`,
        });
      };
      const result = await scanRecordsCsv(await s.storage.get(row.fileKey), {
        members: await memberEmails(tx),
        signal: ctx.signal,
        onError: (e) => void (errors.length < STORED_ERRORS && errors.push(e)),
        onRow: async (r) => {
          pending.push(r);
          if (pending.length >= INSERT_CHUNK) await flush();
        },
      });
      if (result.errorCount) throw new InvalidDuringImport(`${result.errorCount} problems found`);
      await flush();
      await tx.nativeUpdate(
        DataImport,
        { id: importId },
        { status: 'completed', importedRows: written, finishedAt: new Date() },
      );
      return written;
    });
    Object.assign(row, { status: 'completed', importedRows: imported });
  } catch (err) {
    if (!(err instanceof InvalidDuringImport)) throw err;
    ctx.em.clear();
    const fresh = await ctx.em.findOneOrFail(DataImport, { id: importId });
    Object.assign(fresh, {
      status: 'invalid',
      errorCount: errors.length,
      errors,
      error: err.message,
      finishedAt: new Date(),
    });
    await ctx.em.flush();
  }
}

/** For a file with problems: a CSV of every one of them (line, column, reason), streamed to storage. */
export async function reportStep(s: DataServices, ctx: StepContext, importId: string): Promise<void> {
  const row = await ctx.em.findOne(DataImport, { id: importId }, { refresh: true });
  if (!row || row.status !== 'invalid' || row.reportKey || row.errorCount === 0) return;
  const reportKey = `imports/${row.organization.id}/${row.id}/report.csv`;
  const out = new PassThrough();
  const stored = s.storage.put(reportKey, out, {
    contentType: 'text/csv; charset=utf-8',
    signal: ctx.signal,
  });
  let failed = false;
  stored.catch(() => {
    failed = true;
    out.destroy();
  });
  let lines = 0;
  const write = async (line: string) => {
    if (failed || out.destroyed) throw new Error('The report could not be written');
    if (!out.write(line)) await Promise.race([once(out, 'drain'), once(out, 'close')]);
  };
  // Columns and reasons quote the uploaded file (a header cell, say): csvLine keeps a formula there inert.
  await write('Line,Column,Reason\n');
  if (row.bytes !== null && row.bytes !== undefined && (await s.storage.head(row.fileKey))) {
    await scanRecordsCsv(await s.storage.get(row.fileKey), {
      members: await memberEmails(ctx.em),
      signal: ctx.signal,
      onError: async (e) => {
        lines += 1;
        if (lines <= REPORT_MAX_LINES) await write(`${csvLine([e.line, e.column, e.reason])}\n`);
      },
    });
  } else {
    for (const e of row.errors) await write(`${csvLine([e.line, e.column, e.reason])}\n`);
  }
  if (lines > REPORT_MAX_LINES)
    await write(`-,-,${csvCell(`${lines - REPORT_MAX_LINES} more problems not listed`)}\n`);
  out.end();
  await stored;
  row.reportKey = reportKey;
  await ctx.em.flush();
}

/** The chain's last step: the requester hears how it went (email, in-app) and progress reaches its final state. */
export async function notifyStep(s: DataServices, ctx: StepContext, importId: string): Promise<void> {
  const row = await ctx.em.findOne(DataImport, { id: importId }, { refresh: true });
  if (!row || !TERMINAL.includes(row.status)) return;
  await publishOutcome(s, row);
  await announce(s, row);
}

function publishOutcome(s: DataServices, row: IDataImport) {
  return progress(s, row.organization.id, {
    jobId: row.id,
    kind: 'import',
    status: row.status === 'completed' ? 'completed' : 'failed',
    progress: row.status === 'completed' ? 1 : null,
    processed: row.importedRows ?? 0,
    total: row.totalRows ?? null,
    message:
      row.status === 'completed'
        ? `${row.importedRows ?? 0} rows imported`
        : (row.error ?? `${row.errorCount} problems found`),
  });
}

/** The requester is told: an email (written by the mail job, which signs the report link then) and in-app. */
async function announce(s: DataServices, row: IDataImport): Promise<void> {
  const userId = row.requestedBy?.id;
  if (!userId) return;
  const organizationId = row.organization.id;
  const completed = row.status === 'completed';
  await sendMail(
    s.queue,
    { template: completed ? 'import-completed' : 'import-failed', importId: row.id },
    organizationId,
  );
  await notifyInApp(s, userId, {
    type: completed ? 'import.completed' : 'import.failed',
    title: completed ? `${row.filename} imported` : `${row.filename} was not imported`,
    body: completed ? `${row.importedRows ?? 0} rows` : row.error,
    organizationId,
    data: { importId: row.id, link: appLink(s.config, '/app/imports') },
  });
}

/** A batch member: the whole single-file chain but the notification, then the batch's overall progress. */
export async function processFileStep(s: DataServices, ctx: StepContext, importId: string): Promise<void> {
  await validateStep(s, ctx, importId);
  await importStep(s, ctx, importId);
  await reportStep(s, ctx, importId);
  const row = await ctx.em.findOne(DataImport, { id: importId }, { refresh: true });
  if (!row?.batchId) return;
  await publishOutcome(s, row);
  const summary = await batchSummary(ctx.em, row.batchId);
  await progress(s, summary.organizationId, {
    jobId: summary.batchId,
    kind: 'batch',
    status: 'running',
    progress: summary.progress,
    processed: summary.finished,
    total: summary.files,
    message: `${summary.finished} of ${summary.files} files done`,
  });
}

/** A step failed for good (storage or database trouble, not bad rows): the import fails and the requester is told. */
export async function importChainFailed(s: DataServices, em: Em, event: CallbackEvent): Promise<void> {
  if (!event.chainId) return;
  const row = await em.findOne(DataImport, { jobId: event.chainId }, { refresh: true });
  if (!row) return;
  // The job's error is internal text (SQL, storage): it stays in the job's record, for staff.
  await abandonImport(s, em, row, 'The import job failed');
}

/** The import fails for `reason` (shown to the requester), who is told. */
export async function abandonImport(
  s: DataServices,
  em: Em,
  row: IDataImport,
  reason: string,
): Promise<void> {
  await failImport(s, em, row, reason);
  await publishOutcome(s, row);
  await announce(s, row);
}

/**
 * A file of a batch whose job failed for good fails at once (the batch's summary, sent when every file is done,
 * tells the requester), so no row is left in a running state without a job.
 */
export async function fileStepFailed(s: DataServices, em: Em, importId: string): Promise<void> {
  const row = await em.findOne(DataImport, { id: importId }, { refresh: true });
  if (!row || TERMINAL.includes(row.status)) return;
  await failImport(s, em, row, 'The import job failed');
  await publishOutcome(s, row);
}

export async function failImport(s: DataServices, em: Em, row: IDataImport, reason: string): Promise<void> {
  if (row.status === 'completed') return;
  row.status = 'failed';
  row.error = reason.split('\n')[0]!.slice(0, 500);
  row.finishedAt = new Date();
  await em.flush();
}

/** Every file of a batch is done: files that failed outright are marked so, and one summary goes out. */
export async function importBatchFinished(s: DataServices, em: Em, event: CallbackEvent): Promise<void> {
  if (!event.batchId) return;
  const info = await s.queue.getBatch(event.batchId);
  const batchId = info?.name.startsWith('imports:') ? info.name.slice('imports:'.length) : null;
  if (!batchId) return;
  const stuck = await em.find(DataImport, { batchId, status: { $nin: TERMINAL } }, { refresh: true });
  for (const row of stuck) await failImport(s, em, row, 'The import job failed');
  await summarizeBatch(s, em, batchId);
}

/**
 * Sends a finished batch's summary (final progress, mail, in-app) once. Its finally callback and the imports
 * reconciler (for a batch whose queue record Redis lost) may both try: each claims the batch with one conditional
 * UPDATE of its files, and only the one that changed them sends. A send that fails gives the claim back for the
 * next try. True when this call sent it.
 */
export async function summarizeBatch(s: DataServices, em: Em, batchId: string): Promise<boolean> {
  const claimed = await em.nativeUpdate(
    DataImport,
    { batchId, batchSummarizedAt: null },
    { batchSummarizedAt: new Date() },
  );
  if (claimed === 0) return false;
  try {
    await sendBatchSummary(s, em, batchId);
  } catch (err) {
    await em.nativeUpdate(DataImport, { batchId }, { batchSummarizedAt: null });
    throw err;
  }
  return true;
}

async function sendBatchSummary(s: DataServices, em: Em, batchId: string): Promise<void> {
  const summary = await batchSummary(em, batchId);
  await progress(s, summary.organizationId, {
    jobId: batchId,
    kind: 'batch',
    status: 'completed',
    progress: 1,
    processed: summary.files,
    total: summary.files,
    message: `${summary.completed} of ${summary.files} files imported`,
  });
  if (!summary.requestedBy) return;
  const [user, org] = await Promise.all([
    em.findOne(User, { id: summary.requestedBy }),
    em.findOne(Organization, { id: summary.organizationId }),
  ]);
  if (!user || !org) return;
  await sendMail(
    s.queue,
    {
      template: 'import-batch-finished',
      to: user.email,
      organizationName: org.name,
      batchId,
      files: summary.files,
      imported: summary.completed,
      failed: summary.invalid + summary.failed,
      rows: summary.rows,
    },
    org.id,
  );
  await notifyInApp(s, user.id, {
    type: 'import.batch-finished',
    title: `Batch import: ${summary.completed} of ${summary.files} files imported`,
    organizationId: org.id,
    data: { batchId },
  });
}

/** Ops: every organization's imports (explicitly unfiltered; staff only, through opsProcedure). */
export async function listAllImports(
  rootEm: Em,
  opts: {
    organizationId?: string | undefined;
    status?: ImportStatus | undefined;
    limit: number;
    offset: number;
  },
) {
  const { items, total } = await pageAcrossTenants(rootEm, DataImport, {
    ...opts,
    where: opts.status ? { status: opts.status } : {},
  });
  return { items: items.map((i) => ({ ...toImportOutput(i), organizationId: i.organization.id })), total };
}
