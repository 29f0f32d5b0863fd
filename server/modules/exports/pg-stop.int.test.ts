import type { ChildProcess } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDbScope } from '../../platform/db/context.ts';
import { callerAs, createOrg } from '../../test/factories.ts';
import { createFleetEnvironment, type FleetEnvironment } from '../../test/fleet/environment.ts';
import { startKeel, type KeelProcess } from '../../test/fleet/keel-process.ts';
import { startPostgres, type OwnPostgres } from '../../test/own-postgres.ts';
import { freePort, startRedis, stopRedis } from '../../test/own-redis.ts';
import { seedRecords } from '../records/testing/seed.ts';
import { DataExport } from './export.entity.ts';
import { EXPORT_FAILED, EXPORT_JOB } from './exports.service.ts';

// Issue 18.5: an export running when PostgreSQL stopped stayed `running` for minutes after PostgreSQL returned, its
// cancel poll logging "driver has already been destroyed" once the worker stopped, and the organization's other
// exports waited behind its overlap lock. A real `keel work` process on a PostgreSQL and a Redis of the test's own;
// PostgreSQL is stopped while the export writes its file and started again.
// Issue 18 (gap 1): when the LAST attempt failed while PostgreSQL was still down, its failed() hook could not write
// either, and the row stayed `running` until the reconciler's 31-minute rule. The reconciler (leader task
// `exports:reconcile`, every minute) now reads the job's index record: failed for good → the row is failed.

let pg: OwnPostgres;
let redis: ChildProcess;
let fx: FleetEnvironment;
let worker: KeelProcess | undefined;

beforeAll(async () => {
  pg = await startPostgres();
  const redisPort = await freePort();
  redis = await startRedis(redisPort);
  fx = await createFleetEnvironment(
    'pgstop',
    {},
    { pgUrl: pg.url, redisUrl: `redis://127.0.0.1:${redisPort}` },
  );
}, 120_000);
afterAll(async () => {
  await worker?.kill();
  await fx?.close();
  await pg?.destroy();
  if (redis) await stopRedis(redis);
});

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true }).catch(() => []);
  return entries.map(String);
}

async function until<T>(fn: () => Promise<T>, what: string, timeoutMs: number, everyMs = 50) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

describe('PostgreSQL stopped during a running export', () => {
  it('the attempt ends and frees the lock while PostgreSQL is down; both exports complete once it is back', async () => {
    const org = await createOrg(fx.deps);
    await seedRecords(fx.deps, org.id, org.owner.id, 600_000);
    const storage = path.join(fx.dir, 'storage');
    const row = (id: string) =>
      withDbScope(fx.deps.em, org.id, (em) => em.findOneOrFail(DataExport, { id }, { refresh: true }));

    worker = await startKeel('work', fx.env);
    const caller = await callerAs(fx.deps, org.owner);
    const { export: big } = await caller.exports.request({});
    const { export: small } = await caller.exports.request({ statuses: ['cancelled'] });
    await until(
      async () =>
        (await row(big.id)).status === 'running' &&
        (await filesUnder(storage)).some((f) => f.endsWith('.partial')),
      'the export to be writing its file',
      60_000,
    );

    const lock = fx.deps.queue.keys.overlap(EXPORT_JOB, org.id);
    expect(await fx.deps.queue.redis.get(lock)).toBeTruthy();

    await pg.stop('fast');
    // While PostgreSQL is still down, the attempt ends (it used to hang on the cursor for the job's 30-minute
    // timeout) and gives its organization's overlap lock back.
    await until(async () => (await fx.deps.queue.redis.exists(lock)) === 0, 'the overlap lock to go', 20_000);
    await pg.start();

    // The attempts that failed are retried after the job's backoff (30 s): both exports complete, the one that
    // was running with every row, and no temporary file is left.
    const done = await until(
      async () => {
        const [a, b] = [await row(big.id), await row(small.id)];
        return a.status === 'completed' && b.status === 'completed' ? { a, b } : null;
      },
      'both exports to complete',
      120_000,
      500,
    );
    expect(done.a.rowCount).toBe(600_000);
    const files = await filesUnder(storage);
    expect(files.filter((f) => f.endsWith('.partial'))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.csv'))).toHaveLength(2);
  }, 420_000);

  it('an export whose last attempt fails while PostgreSQL is down is failed once PostgreSQL is back', async () => {
    const org = await createOrg(fx.deps);
    await seedRecords(fx.deps, org.id, org.owner.id, 600_000);
    const storage = path.join(fx.dir, 'storage');
    const row = (id: string) =>
      withDbScope(fx.deps.em, org.id, (em) => em.findOneOrFail(DataExport, { id }, { refresh: true }));

    worker ??= await startKeel('work', fx.env);
    const caller = await callerAs(fx.deps, org.owner);
    const { export: e } = await caller.exports.request({});
    const running = await until(
      async () => {
        const r = await row(e.id);
        return r.status === 'running' && (await filesUnder(storage)).some((f) => f.endsWith('.partial'))
          ? r
          : null;
      },
      'the export to be writing its file',
      60_000,
    );
    const jobId = running.jobId!;

    await pg.stop('fast');
    // Attempt 1 fails (the cut), attempt 2 runs after the job's backoff (30 s) and fails at once: the job has used
    // its two exceptions and fails for good, with PostgreSQL still down, so neither the attempt nor the job's
    // failed() hook could record anything.
    // (Its index record is written before it leaves the queue.)
    await until(
      async () =>
        (await fx.deps.queue.index.get(jobId))?.status === 'failed' &&
        !(await fx.deps.queue.hasJob(e.queue, jobId)),
      'the job to fail for good',
      120_000,
      500,
    );
    await pg.start();
    expect((await row(e.id)).status).toBe('running');

    // Bound: the leader's next `exports:reconcile` run at least a minute after the attempt started (every minute).
    const failed = await until(
      async () => {
        const r = await row(e.id);
        return r.status === 'failed' ? r : null;
      },
      'the export to be failed by the reconciler',
      150_000,
      500,
    );
    expect(failed.error).toBe(EXPORT_FAILED);
    expect(failed.finishedAt).toBeTruthy();
    expect(failed.fileKey).toBeNull();
    expect((await filesUnder(storage)).filter((f) => f.endsWith('.partial'))).toEqual([]);
  }, 420_000);
});
