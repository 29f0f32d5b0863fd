import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { loadTestServices, parseConfig } from '../server/config/env.ts';
import { createDeps, type AppDeps } from '../server/deps.ts';
import { createAccount } from '../server/modules/auth/auth.service.ts';
import { hashPassword } from '../server/modules/auth/password.ts';
import { DataExport } from '../server/modules/exports/export.entity.ts';
import { requestExport } from '../server/modules/exports/exports.service.ts';
import { recordsQuery } from '../server/modules/records/records.csv.ts';
import { seedRecords } from '../server/modules/records/testing/seed.ts';
import { withDbScope } from '../server/platform/db/context.ts';
import { createLogger } from '../server/platform/logger/logger.ts';
import { Worker } from '../server/platform/queue/worker.ts';
import { adminUrl } from '../server/test/env.ts';
import { printFigures, type Figure } from './lib.ts';

// A 1,000,000-row export of one organization's records, requested through the service and run by an in-process
// worker into local storage (cursor → CSV → file), against PostgreSQL's own `COPY (same query) TO STDOUT`, read and
// discarded by the same process, in the same run. Figures: rows/s of each, and the process's peak RSS during each.
// The seeded database (keel_bench_export) is kept between runs: seeding is not what is measured.

const ROWS = 1_000_000;
const DB = 'keel_bench_export';

/** The smallest pg "submittable" for COPY … TO STDOUT: counts bytes and drops them (pg-copy-streams is not installed). */
function copyToNowhere(sql: string): { submittable: object; done: Promise<number> } {
  let bytes = 0;
  let resolve!: (n: number) => void;
  let reject!: (e: Error) => void;
  const done = new Promise<number>((res, rej) => ((resolve = res), (reject = rej)));
  let error: Error | null = null;
  const submittable = {
    submit: (connection: { query(text: string): void }) => connection.query(sql),
    handleCopyData: (msg: { chunk: Buffer }) => void (bytes += msg.chunk.length),
    handleCommandComplete: () => undefined,
    handleReadyForQuery: () => (error ? reject(error) : resolve(bytes)),
    handleError: (err: Error) => void (error = err),
    handleEmptyQuery: () => undefined,
    handleRowDescription: () => undefined,
    handleDataRow: () => undefined,
    handlePortalSuspended: () => undefined,
  };
  return { submittable, done };
}

/** Peak RSS while a phase runs, and how far it rose above where the phase started. */
function rssSampler() {
  const start = process.memoryUsage().rss;
  let peak = start;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  return () => {
    clearInterval(timer);
    peak = Math.max(peak, process.memoryUsage().rss);
    return { peak, growth: peak - start };
  };
}

async function ensureDatabase(pgUrl: string): Promise<string> {
  const admin = new pg.Client(pgUrl);
  await admin.connect();
  const exists = await admin.query('select 1 from pg_database where datname = $1', [DB]);
  if (!exists.rowCount) await admin.query(`create database ${DB}`);
  await admin.end();
  return adminUrl(pgUrl, DB);
}

async function seeded(deps: AppDeps): Promise<{ organizationId: string; userId: string }> {
  const found = await withDbScope(deps.em, undefined, (em) =>
    em
      .getConnection()
      .execute<{ organization_id: string; user_id: string; n: string }[]>(
        `select organization_id, min(user_id::text) as user_id, count(*)::text as n from records group by organization_id order by count(*) desc limit 1`,
      ),
  );
  const row = found[0];
  if (row && Number(row.n) === ROWS) return { organizationId: row.organization_id, userId: row.user_id };
  process.stdout.write(`seeding ${ROWS} records…\n`);
  const { user, organizationId } = await createAccount(deps.em, {
    email: `bench-${randomBytes(4).toString('hex')}@example.test`,
    passwordHash: await hashPassword('bench-password-123'),
    name: 'Bench "Owner", Esq.',
    organizationName: `Bench ${randomBytes(3).toString('hex')}`,
  });
  await seedRecords(deps, organizationId, user.id, ROWS);
  await withDbScope(deps.em, undefined, (em) => em.getConnection().execute('analyze records'));
  return { organizationId, userId: user.id };
}

export async function run(): Promise<void> {
  const services = loadTestServices();
  const databaseUrl = await ensureDatabase(services.pgUrl);
  const storageDir = await mkdtemp(path.join(os.tmpdir(), 'keel-bench-export-'));
  const prefix = `keel:bench:export:${randomBytes(4).toString('hex')}:`;
  const config = parseConfig({
    NODE_ENV: 'test',
    DATABASE_URL: databaseUrl,
    REDIS_URL: services.redisUrl,
    KEY_PREFIX: prefix,
    LOG_LEVEL: 'silent',
    STORAGE_LOCAL_DIR: storageDir,
    DB_POOL_MAX: '4',
  });
  const deps = await createDeps(config, {
    logger: createLogger({ level: 'silent', pretty: false }),
    rateLimitPolicies: { exports: { per: 'organization', rules: [{ points: 1000, duration: 60 }] } },
  });
  try {
    await deps.orm.migrator.up();
    const { organizationId, userId } = await seeded(deps);
    const { sql, params } = recordsQuery(
      organizationId,
      { from: null, to: null, statuses: null },
      { select: 'line' },
    );
    // COPY takes no parameters: the organization id (a uuid we generated) is inlined.
    const copySql = `copy (${sql.replace('$1', `'${String(params[0])}'::uuid`)}) to stdout`;

    const client = new pg.Client(databaseUrl);
    await client.connect();
    // Warm both paths once (plans, caches) so neither pays for the other's first run.
    await client.query(`select count(*) from records where organization_id = $1`, [organizationId]);

    global.gc?.();
    let stopSampling = rssSampler();
    let t0 = performance.now();
    const { submittable, done } = copyToNowhere(copySql);
    void client.query(submittable as never);
    const copyBytes = await done;
    const copyMs = performance.now() - t0;
    const copyPeak = stopSampling();
    await client.end();

    const worker = new Worker(deps.queue, {
      queues: ['high', 'default', 'low'],
      concurrency: 1,
      leader: false,
    });
    await worker.start();
    global.gc?.();
    stopSampling = rssSampler();
    t0 = performance.now();
    const requested = await withDbScope(deps.em, organizationId, (em) =>
      requestExport(deps, em, {
        organization: { id: organizationId, tier: 'enterprise' },
        userId,
        filters: { from: new Date(0), to: new Date(Date.now() + Math.random() * 1e6), statuses: null },
      }),
    );
    let row = requested.export;
    for (;;) {
      row = await withDbScope(deps.em, organizationId, (em) => em.findOneOrFail(DataExport, { id: row.id }));
      if (['completed', 'failed', 'cancelled'].includes(row.status)) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const exportMs = performance.now() - t0;
    const exportPeak = stopSampling();
    await worker.stop(2_000);
    if (row.status !== 'completed' || row.rowCount !== ROWS) {
      throw new Error(`export ended ${row.status} with ${row.rowCount} rows: ${row.error}`);
    }
    const fileBytes = (await stat(path.join(storageDir, row.fileKey!))).size;
    process.stdout.write(
      `COPY: ${copyBytes} bytes in ${copyMs.toFixed(0)} ms; export: ${fileBytes} bytes in ${exportMs.toFixed(0)} ms\n`,
    );
    const figures: Figure[] = [
      {
        name: 'rows_per_s',
        value: Math.round((ROWS / exportMs) * 1000),
        unit: 'rows/s',
        baseline: Math.round((ROWS / copyMs) * 1000),
        goal: 'higher; >= 0.5 of COPY, > 10000 rows/s',
      },
      {
        name: 'peak_rss',
        value: Math.round(exportPeak.peak / 1048576),
        unit: 'MB',
        baseline: Math.round(copyPeak.peak / 1048576),
        goal: 'lower; bounded, not growing with rows',
      },
      {
        name: 'rss_growth',
        value: Math.round(exportPeak.growth / 1048576),
        unit: 'MB',
        baseline: Math.round(copyPeak.growth / 1048576),
        goal: 'lower; far below the file size',
      },
      {
        name: 'file_mb',
        value: Math.round(fileBytes / 1048576),
        unit: 'MB',
        baseline: Math.round(copyBytes / 1048576),
        goal: 'same data',
      },
    ];
    printFigures('export', figures);
  } finally {
    await deps.close();
    await rm(storageDir, { recursive: true, force: true });
  }
}
