import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDbScope } from '../../platform/db/context.ts';
import { Worker } from '../../platform/queue/worker.ts';
import { callerAs, createOrg, type TestOrg } from '../../test/factories.ts';
import { createTestEnv, deleteKeys, type TestEnv } from '../../test/harness.ts';
import { LogCapture } from '../../test/http.ts';
import { BusinessRecord } from '../records/record.entity.ts';
import { DataImport } from './import.entity.ts';
import { reconcileImports } from './imports.reconcile.ts';
import { STALE_UPLOAD_ERROR, STALE_UPLOAD_MS, sweepStaleUploads } from './imports.sweep.ts';

// Issue 18.3 for imports: after Redis lost its data, an import accepted just before stayed `queued` (or
// `validating`, `importing`) for ever. The same reconciler as the exports' queues it again or fails it, and logs
// what it did. No worker runs until a test starts one, so jobs stay where the test puts them.

let env: TestEnv;
let dir: string;
const logs = new LogCapture();
const logged = logs.lines;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'keel-imports-reconcile-'));
  env = await createTestEnv({ STORAGE_LOCAL_DIR: dir, LOG_LEVEL: 'warn' }, { logStream: logs });
});
afterAll(async () => {
  await env?.close();
  await rm(dir, { recursive: true, force: true });
});

const row = (orgId: string, id: string) =>
  withDbScope(env.deps.em, orgId, (em) => em.findOneOrFail(DataImport, { id }, { refresh: true }));

/** What a Redis restart without persistence does to a queue: bee's job hash and lists are gone. */
async function loseQueues(): Promise<void> {
  for (const queue of ['high', 'default']) {
    const k = (key: string) => env.deps.queue.keys.beeKey(queue, key);
    await env.deps.queue.redis.del(k('jobs'), k('waiting'), k('active'), k('delayed'));
  }
}

async function backdate(orgId: string, id: string, ms: number): Promise<void> {
  await withDbScope(env.deps.em, orgId, (em) =>
    em.nativeUpdate(DataImport, { id }, { startedAt: new Date(Date.now() - ms) }),
  );
}

/** An uploaded file of `rows` good rows, reserved through the API and written straight to storage. */
async function uploaded(org: TestOrg, rows: number): Promise<string> {
  const caller = await callerAs(env.deps, org.owner);
  const body =
    'Email,Category,Status,Amount,Created At\n' +
    Array.from(
      { length: rows },
      (_, i) => `${org.owner.email},cat ${i},active,${i}.50,2026-01-01T10:00:00Z\n`,
    ).join('');
  const { importId } = await caller.imports.createUpload({
    filename: 'r.csv',
    size: Buffer.byteLength(body),
  });
  await env.deps.storage.put((await row(org.id, importId)).fileKey, body);
  return importId;
}

async function runWorkerUntil(done: () => Promise<boolean>): Promise<void> {
  const worker = new Worker(env.deps.queue, { queues: ['high', 'default', 'low'], concurrency: 2 });
  await worker.start();
  try {
    for (let i = 0; i < 300 && !(await done()); i++) await new Promise((r) => setTimeout(r, 100));
  } finally {
    await worker.stop(1_000);
  }
}

describe('imports reconciled with the queue', () => {
  it('an import whose chain is still queued is left alone', async () => {
    const org = await createOrg(env.deps);
    const id = await uploaded(org, 3);
    await (await callerAs(env.deps, org.owner)).imports.start({ importId: id });
    await backdate(org.id, id, 120_000);
    const { jobId } = await row(org.id, id);
    const r = await reconcileImports(env.deps);
    expect(r.requeued).not.toContain(id);
    expect((await row(org.id, id)).jobId).toBe(jobId);
  });

  it('an import whose chain Redis lost is queued again once, logged, and imports its rows once', async () => {
    const org = await createOrg(env.deps);
    const id = await uploaded(org, 5);
    await (await callerAs(env.deps, org.owner)).imports.start({ importId: id });
    const { jobId } = await row(org.id, id);
    await loseQueues();
    // Within the grace period nothing is touched: its job may be on its way.
    expect((await reconcileImports(env.deps)).requeued).not.toContain(id);
    await backdate(org.id, id, 120_000);

    const first = await reconcileImports(env.deps);
    expect(first.requeued).toContain(id);
    const requeued = await row(org.id, id);
    expect(requeued.status).toBe('queued');
    expect(requeued.jobId).not.toBe(jobId);
    expect(logged.some((l) => l.msg === 'imports reconciled with the queue: their jobs were lost')).toBe(
      true,
    );
    expect(logged.find((l) => (l.requeued as string[] | undefined)?.includes(id))).toBeTruthy();
    // A second pass finds the new chain in the queue: nothing is queued twice.
    expect((await reconcileImports(env.deps)).requeued).not.toContain(id);

    await runWorkerUntil(async () => (await row(org.id, id)).status === 'completed');
    expect((await row(org.id, id)).importedRows).toBe(5);
    expect(await withDbScope(env.deps.em, org.id, (em) => em.count(BusinessRecord, {}))).toBe(5);
  });

  it('a batch file whose job Redis lost mid-import is queued again and completes', async () => {
    const org = await createOrg(env.deps);
    const ids = [await uploaded(org, 2), await uploaded(org, 3)];
    await (await callerAs(env.deps, org.owner)).imports.startBatch({ importIds: ids });
    // As if the worker had validated the first file when Redis lost everything.
    await withDbScope(env.deps.em, org.id, (em) =>
      em.nativeUpdate(DataImport, { id: ids[0] }, { status: 'importing', totalRows: 2 }),
    );
    await loseQueues();
    for (const id of ids) await backdate(org.id, id, 120_000);
    const r = await reconcileImports(env.deps);
    expect(r.requeued.sort()).toEqual([...ids].sort());
    await runWorkerUntil(async () =>
      (await Promise.all(ids.map((id) => row(org.id, id)))).every((x) => x.status === 'completed'),
    );
    expect((await Promise.all(ids.map((id) => row(org.id, id)))).map((x) => x.importedRows)).toEqual([2, 3]);
  });

  it('one too old to run again fails with a clear reason', async () => {
    const org = await createOrg(env.deps);
    const id = await uploaded(org, 1);
    await (await callerAs(env.deps, org.owner)).imports.start({ importId: id });
    await loseQueues();
    await backdate(org.id, id, 7 * 3_600_000);
    const r = await reconcileImports(env.deps);
    expect(r.failed).toContain(id);
    const failed = await row(org.id, id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/lost from the queue/i);
  });

  it('a batch whose queue record Redis lost: its files run again and the reconciler sends its summary, once', async () => {
    const org = await createOrg(env.deps);
    const ids = [await uploaded(org, 2), await uploaded(org, 1)];
    const { batchId } = await (await callerAs(env.deps, org.owner)).imports.startBatch({ importIds: ids });
    // Redis lost everything the queue had: bee's keys, and the batch's record with its finally callback.
    await deleteKeys(env.config.redisUrl!, `${env.config.keyPrefix}q:`);
    await loseQueues();
    for (const id of ids) await backdate(org.id, id, 120_000);
    expect((await reconcileImports(env.deps)).requeued.sort()).toEqual([...ids].sort());
    await runWorkerUntil(async () =>
      (await Promise.all(ids.map((id) => row(org.id, id)))).every((x) => x.status === 'completed'),
    );

    // (The batch of the test before lost its queue record too, and is summarized by the same run.)
    const first = await reconcileImports(env.deps, { batchGraceMs: 0 });
    expect(first.summarized).toContain(batchId);
    expect((await reconcileImports(env.deps, { batchGraceMs: 0 })).summarized).toEqual([]);
    const rows = await Promise.all(ids.map((id) => row(org.id, id)));
    expect(rows.every((r) => r.batchSummarizedAt)).toBe(true);
    // One summary mail queued (no worker takes the mail queue here).
    const mails = (await env.deps.queue.index.waiting('mail', { offset: 0, limit: 100 })).items.filter(
      (j) => j.payload?.includes('import-batch-finished') && j.payload.includes(batchId),
    );
    expect(mails).toHaveLength(1);
    expect(mails[0]!.payload).toContain('"imported":2');
    expect(logged.some((l) => (l.batches as string[] | undefined)?.includes(batchId))).toBe(true);
  });

  it('uploads never started are swept after a day: marked failed and their file deleted, once; newer ones are left', async () => {
    const org = await createOrg(env.deps);
    const stale = await uploaded(org, 1);
    const fresh = await uploaded(org, 1);
    await withDbScope(env.deps.em, org.id, (em) =>
      em.nativeUpdate(
        DataImport,
        { id: stale },
        { createdAt: new Date(Date.now() - STALE_UPLOAD_MS - 60_000) },
      ),
    );
    const swept = await sweepStaleUploads(env.deps);
    expect(swept).toContain(stale);
    expect(swept).not.toContain(fresh);
    const gone = await row(org.id, stale);
    expect(gone).toMatchObject({ status: 'failed', error: STALE_UPLOAD_ERROR });
    expect(await env.deps.storage.head(gone.fileKey)).toBeNull();
    const kept = await row(org.id, fresh);
    expect(kept.status).toBe('uploading');
    expect(await env.deps.storage.head(kept.fileKey)).toBeTruthy();
    expect(await sweepStaleUploads(env.deps)).not.toContain(stale);
    expect(logged.some((l) => (l.imports as string[] | undefined)?.includes(stale))).toBe(true);
  });
});
