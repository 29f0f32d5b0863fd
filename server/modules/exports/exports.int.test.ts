import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, pipeline, Transform, type Readable } from 'node:stream';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobProgress } from '../../../shared/schemas/realtime.ts';
import { withDbScope } from '../../platform/db/context.ts';
import { startSmtpCapture, type SmtpCapture } from '../../platform/mail/testing/smtp-capture.ts';
import { Worker } from '../../platform/queue/worker.ts';
import type { Storage } from '../../platform/storage/storage.ts';
import { addMember, callerAs, createOrg, createStaff, type TestOrg } from '../../test/factories.ts';
import { createTestEnv, startServer, type RunningServer, type TestEnv } from '../../test/harness.ts';
import { User } from '../auth/user.entity.ts';
import { jobsChannel } from '../realtime/realtime.service.ts';
import { BusinessRecord } from '../records/record.entity.ts';
import { seedRecords } from '../records/testing/seed.ts';
import { Organization } from '../tenancy/organization.entity.ts';
import { DataExport } from './export.entity.ts';
import { EXPORT_FAILED, failExport, runExport } from './exports.service.ts';

let env: TestEnv;
let server: RunningServer;
let smtp: SmtpCapture;
let worker: Worker;
let dir: string;
let realStorage: Storage;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'keel-exports-'));
  smtp = await startSmtpCapture();
  env = await createTestEnv({ STORAGE_LOCAL_DIR: dir, SMTP_URL: smtp.url });
  realStorage = env.deps.storage;
  server = await startServer(env.deps);
  worker = new Worker(env.deps.queue, { queues: ['high', 'default', 'low', 'mail'], concurrency: 2 });
  await worker.start();
}, 60_000);
afterAll(async () => {
  await worker?.stop(2_000);
  await server?.close();
  await env?.close();
  await smtp?.close();
  await rm(dir, { recursive: true, force: true });
});

async function until<T>(fn: () => Promise<T> | T, what: string, timeoutMs = 60_000): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const exportRow = (orgId: string, id: string) =>
  withDbScope(env.deps.em, orgId, (em) => em.findOneOrFail(DataExport, { id }));
const finished = (orgId: string, id: string) =>
  until(
    async () => {
      const r = await exportRow(orgId, id);
      return ['completed', 'failed', 'cancelled'].includes(r.status) ? r : null;
    },
    `export ${id}`,
    110_000,
  );

async function progressOf(orgId: string, jobId: string): Promise<JobProgress[]> {
  const redis = env.deps.redis.get('publish');
  const entries = (await redis.xrange(env.deps.realtime.log.key(jobsChannel(orgId)), '-', '+')) as [
    string,
    string[],
  ][];
  return entries.map(([, f]) => JSON.parse(f[1]!) as JobProgress).filter((p) => p.jobId === jobId);
}

async function filesOf(orgId: string): Promise<string[]> {
  const root = path.join(dir, 'exports', orgId);
  return readdir(root).catch(() => []);
}

async function setTier(orgId: string, tier: 'free' | 'professional' | 'enterprise') {
  // Through the unit of work, as billing's writes are announced: cached memberships carry the tier.
  await withDbScope(env.deps.em, undefined, async (em) => {
    (await em.findOneOrFail(Organization, orgId)).tier = tier;
    await em.flush();
  });
}

describe('export content', () => {
  let org: TestOrg;
  beforeAll(async () => {
    org = await createOrg(env.deps);
  });

  it('writes a correct CSV: quoting of commas, quotes and newlines, and unicode, read back by a CSV parser', async () => {
    const tricky = [
      { category: 'plain', amount: '1.00' },
      { category: 'comma, inside', amount: '-2.50' },
      { category: 'say "hi"', amount: '3.00' },
      { category: 'line one\nline two\r\nline three', amount: '4.00' },
      { category: 'Zoë 東京 🚀 ‏עברית', amount: '999999999999.99' },
      { category: '=HYPERLINK("x")', amount: '0.00' },
    ];
    await withDbScope(env.deps.em, undefined, (em) =>
      em.nativeUpdate(User, { id: org.owner.id }, { name: 'Ann "The" O\'Neil, Jr.' }),
    );
    await withDbScope(env.deps.em, org.id, async (em) => {
      tricky.forEach((t, i) =>
        em.create(BusinessRecord, {
          organization: org.id,
          user: org.owner.id,
          category: t.category,
          status: 'active',
          amount: t.amount,
          createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)),
        }),
      );
      em.create(BusinessRecord, {
        organization: org.id,
        user: null,
        category: 'no user',
        status: 'pending',
        amount: '5.00',
        createdAt: new Date(Date.UTC(2026, 0, 2)),
      });
      await em.flush();
    });

    const caller = await callerAs(env.deps, org.owner);
    const before = smtp.messages.length;
    const { export: requested, duplicate } = await caller.exports.request({});
    expect(duplicate).toBe(false);
    const done = await finished(org.id, requested.id);
    expect(done.status).toBe('completed');
    expect(done.rowCount).toBe(7);

    const link = await caller.exports.download({ id: requested.id });
    const res = await fetch(`${server.url}${new URL(link.url).pathname}${new URL(link.url).search}`);
    expect(res.status).toBe(200);
    const text = await res.text();
    const rows = parse(text) as string[][];
    expect(rows[0]).toEqual(['ID', 'User', 'Email', 'Category', 'Status', 'Amount', 'Created At']);
    expect(rows).toHaveLength(8);
    // A formula is written as text (the `'` prefix, issue 17 finding 8); a negative amount stays a number.
    expect(rows.slice(1, 7).map((r) => r[3])).toEqual(
      tricky.map((t) => (t.category.startsWith('=') ? `'${t.category}` : t.category)),
    );
    expect(rows.slice(1, 7).map((r) => r[5])).toEqual(tricky.map((t) => t.amount));
    expect(rows[1]![1]).toBe('Ann "The" O\'Neil, Jr.');
    expect(rows[1]![2]).toBe(org.owner.email);
    expect(rows[1]![6]).toBe('2026-01-01T00:00:00.000Z');
    expect(rows[7]).toEqual([
      expect.any(String),
      '',
      '',
      'no user',
      'pending',
      '5.00',
      '2026-01-02T00:00:00.000Z',
    ]);

    // The requester is emailed a link that downloads the same file.
    const mails = await smtp.waitFor(before + 1);
    const mail = mails.slice(before).find((m) => m.subject.includes('is ready'))!;
    expect(mail.to).toEqual([org.owner.email]);
    const emailed = /http:\/\/localhost:3000\/files\/[^\s"<]+/.exec(mail.decoded)![0].replace(/&amp;/g, '&');
    const viaMail = await fetch(`${server.url}${new URL(emailed).pathname}${new URL(emailed).search}`);
    expect(await viaMail.text()).toBe(text);

    // Progress went queued → running → completed on jobs.progress.
    const progress = await progressOf(org.id, requested.id);
    expect(progress[0]?.status).toBe('queued');
    expect(progress.at(-1)).toMatchObject({ status: 'completed', progress: 1, processed: 7, kind: 'export' });
  });

  it('filters by date range and statuses', async () => {
    const caller = await callerAs(env.deps, org.owner);
    const { export: e } = await caller.exports.request({
      from: new Date(Date.UTC(2026, 0, 1, 0, 0, 2)),
      to: new Date(Date.UTC(2026, 0, 3)),
      statuses: ['pending'],
    });
    expect((await finished(org.id, e.id)).rowCount).toBe(1);
    await expect(
      caller.exports.request({ from: new Date(2026, 1, 1), to: new Date(2026, 0, 1) }),
    ).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    await expect(caller.exports.request({ statuses: ['deleted' as never] })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
  });
});

describe('one million rows', () => {
  let org: TestOrg;
  beforeAll(async () => {
    org = await createOrg(env.deps);
    await seedRecords(env.deps, org.id, org.owner.id, 1_000_000);
  }, 120_000);

  it(
    'exports every row into a well-formed file while the worker memory stays bounded',
    { timeout: 120_000 },
    async () => {
      const caller = await callerAs(env.deps, org.owner);
      // Live memory, not RSS: a full collection before each sample leaves only what is still referenced, so a
      // buffered file would show up in full while garbage waiting for a lazy GC does not.
      v8.setFlagsFromString('--expose-gc');
      const gc = runInNewContext('gc') as () => void;
      const live = () => {
        gc();
        const m = process.memoryUsage();
        return m.heapUsed + m.external;
      };
      const baseline = live();
      let peak = baseline;
      let samples = 0;
      const sampler = setInterval(() => {
        peak = Math.max(peak, live());
        samples++;
      }, 100);
      const { export: e } = await caller.exports.request({});
      const done = await finished(org.id, e.id);
      clearInterval(sampler);
      expect(done.status).toBe('completed');
      expect(done.rowCount).toBe(1_000_000);
      expect(done.totalRows).toBe(1_000_000);

      const file = path.join(dir, 'exports', org.id, `${e.id}.csv`);
      let lines = 0;
      let bytes = 0;
      let first = '';
      let tail = '';
      for await (const chunk of (await realStorage.get(
        `exports/${org.id}/${e.id}.csv`,
      )) as AsyncIterable<Buffer>) {
        if (!first) first = chunk.subarray(0, 300).toString();
        bytes += chunk.length;
        for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
        tail = (tail + chunk.toString()).slice(-400);
      }
      expect(bytes).toBe(done.bytes);
      expect(lines).toBe(1_000_001);
      const head = parse(first.split('\n').slice(0, 2).join('\n')) as string[][];
      expect(head[1]).toEqual([
        expect.stringMatching(/^[0-9a-f-]{36}$/),
        'Owner',
        org.owner.email,
        expect.stringMatching(/^category-\d$/),
        expect.any(String),
        expect.stringMatching(/^\d+\.\d\d$/),
        expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      ]);
      expect(parse(tail.split('\n').slice(-2).join('\n'))).toHaveLength(1);
      expect(file.endsWith('.csv')).toBe(true);
      // Buffering the file would keep at least its size (~140 MB) alive; streaming keeps a few chunks.
      expect(bytes).toBeGreaterThan(100 * 1024 * 1024);
      expect(samples).toBeGreaterThan(3);
      // Streaming peaks at ~26 MB live when this test runs alone and was seen at 38 MB with the other test files
      // loading the machine (how far the reader gets ahead of the writer depends on scheduling); a buffered file
      // would be above 140 MB, so 64 MB still tells the two apart.
      expect(peak - baseline).toBeLessThan(64 * 1024 * 1024);
    },
  );

  it(
    'a cancel mid-way stops the export, leaves no file and says cancelled',
    { timeout: 120_000 },
    async () => {
      // The store takes the file slowly, so the cancel lands while rows are still streaming.
      const slow: Storage = {
        ...realStorage,
        driver: realStorage.driver,
        put: (key, body, opts) => {
          const throttled = new Transform({
            highWaterMark: 64 * 1024,
            transform: (chunk: Buffer, _enc, done) => setTimeout(() => done(null, chunk), 5),
          });
          // One pipeline: when the store gives up on `throttled`, the export's stream is ended too.
          pipeline(body as Readable, throttled, () => undefined);
          return realStorage.put(key, throttled, opts);
        },
        get: (k) => realStorage.get(k),
        head: (k) => realStorage.head(k),
        delete: (k) => realStorage.delete(k),
        downloadUrl: (k, o) => realStorage.downloadUrl(k, o),
      };
      env.deps.storage = slow;
      try {
        const caller = await callerAs(env.deps, org.owner);
        const { export: e } = await caller.exports.request({
          statuses: ['active', 'cancelled', 'completed', 'pending'],
        });
        await until(
          async () =>
            (await progressOf(org.id, e.id)).some((p) => p.status === 'running' && (p.processed ?? 0) > 0),
          'rows streaming',
        );
        const cancelled = await caller.exports.cancel({ id: e.id });
        expect(cancelled.status).toBe('running');
        const done = await finished(org.id, e.id);
        expect(done.status).toBe('cancelled');
        expect(done.fileKey).toBeNull();
        expect(done.rowCount ?? 0).toBeLessThan(1_000_000);
        expect((await filesOf(org.id)).filter((f) => f.startsWith(e.id))).toEqual([]);
        expect((await progressOf(org.id, e.id)).at(-1)).toMatchObject({ status: 'cancelled' });
        await expect(caller.exports.download({ id: e.id })).rejects.toMatchObject({ code: 'CONFLICT' });
        await expect(caller.exports.cancel({ id: e.id })).rejects.toMatchObject({ code: 'CONFLICT' });
      } finally {
        env.deps.storage = realStorage;
      }
    },
  );

  it(
    'a store that stops reading without closing the stream still lets a cancelled export end, its cursor closed',
    { timeout: 120_000 },
    async () => {
      // Reads three chunks, then neither reads nor destroys the stream until the cancel aborts the upload: the
      // export's generator is left suspended with its server-side cursor open on the transaction's connection.
      const stalled: Storage = {
        ...realStorage,
        driver: realStorage.driver,
        put: (_key, body, opts) =>
          new Promise((_resolve, reject) => {
            const stream = body as Readable;
            let chunks = 0;
            stream.on('data', () => {
              if (++chunks === 3) stream.pause();
            });
            opts?.signal?.addEventListener('abort', () => reject(opts.signal?.reason as Error), {
              once: true,
            });
          }),
        get: (k) => realStorage.get(k),
        head: (k) => realStorage.head(k),
        delete: (k) => realStorage.delete(k),
        downloadUrl: (k, o) => realStorage.downloadUrl(k, o),
      };
      env.deps.storage = stalled;
      try {
        const caller = await callerAs(env.deps, org.owner);
        const { export: e } = await caller.exports.request({ statuses: ['active', 'pending'] });
        await until(
          async () =>
            (await progressOf(org.id, e.id)).some((p) => p.status === 'running' && (p.processed ?? 0) > 0),
          'rows streaming',
        );
        await caller.exports.cancel({ id: e.id });
        const done = await finished(org.id, e.id);
        expect(done.status).toBe('cancelled');
        expect((await filesOf(org.id)).filter((f) => f.startsWith(e.id))).toEqual([]);
      } finally {
        env.deps.storage = realStorage;
      }
    },
  );
});

describe('requests', () => {
  it('a duplicate within the hour returns the same export without a second job; the 6th request in a minute is refused', async () => {
    const org = await createOrg(env.deps);
    const caller = await callerAs(env.deps, org.owner);
    const first = await caller.exports.request({ statuses: ['active'] });
    const again = await caller.exports.request({ statuses: ['active'] });
    expect(again).toMatchObject({ duplicate: true, export: { id: first.export.id } });
    await caller.exports.request({ statuses: ['pending'] });
    await caller.exports.request({ statuses: ['completed'] });
    await caller.exports.request({ statuses: ['cancelled'] });
    await expect(caller.exports.request({ statuses: ['pending', 'active'] })).rejects.toMatchObject({
      code: 'TOO_MANY_REQUESTS',
      cause: { code: 'RATE_LIMITED', details: { policy: 'exports' } },
    });
    const rows = await withDbScope(env.deps.em, org.id, (em) => em.find(DataExport, {}));
    expect(rows).toHaveLength(4);
    // One job per export: the duplicate dispatched nothing.
    expect(new Set(rows.map((r) => r.jobId)).size).toBe(4);
  });

  it('concurrent identical requests make one export', async () => {
    const org = await createOrg(env.deps);
    const caller = await callerAs(env.deps, org.owner);
    const results = await Promise.all([1, 2, 3].map(() => caller.exports.request({ statuses: ['pending'] })));
    expect(new Set(results.map((r) => r.export.id)).size).toBe(1);
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
  });

  it('queues by tier: enterprise on high, professional on default, others on low', async () => {
    for (const [tier, queue] of [
      ['enterprise', 'high'],
      ['professional', 'default'],
      ['free', 'low'],
    ] as const) {
      const org = await createOrg(env.deps);
      await setTier(org.id, tier);
      const caller = await callerAs(env.deps, org.owner);
      const { export: e } = await caller.exports.request({});
      expect(e.queue).toBe(queue);
      const job = await env.deps.queue.index.get((await exportRow(org.id, e.id)).jobId!);
      expect(job?.queue).toBe(queue);
    }
  });
});

describe('failures', () => {
  it('a failed attempt removes the partial file; the final failure tells the requester, without internal text', async () => {
    const org = await createOrg(env.deps);
    await seedRecords(env.deps, org.id, org.owner.id, 20_000);
    const broken: Storage = {
      ...realStorage,
      driver: realStorage.driver,
      put: async (key, body, opts) => {
        const failing = new PassThrough();
        let seen = 0;
        (body as Readable).on('data', (c: Buffer) => {
          seen += c.length;
          if (seen > 100_000) failing.destroy(new Error('disk full'));
          else failing.write(c);
        });
        return realStorage.put(key, failing, opts);
      },
      get: (k) => realStorage.get(k),
      head: (k) => realStorage.head(k),
      delete: (k) => realStorage.delete(k),
      downloadUrl: (k, o) => realStorage.downloadUrl(k, o),
    };
    const row = await withDbScope(env.deps.em, org.id, async (em) => {
      const r = em.create(DataExport, {
        organization: org.id,
        requestedBy: org.owner.id,
        filters: { from: null, to: null, statuses: null },
        filtersHash: 'test-failure',
        status: 'queued',
        queue: 'low',
      });
      await em.flush();
      return r;
    });
    const services = { ...env.deps, storage: broken, queue: env.deps.queue };
    const controller = new AbortController();
    await expect(
      withDbScope(env.deps.em, org.id, (em) =>
        runExport(services, { em, signal: controller.signal, logger: env.deps.logger, attempt: 1 }, row.id),
      ),
    ).rejects.toThrow('disk full');
    expect(await filesOf(org.id)).toEqual([]);
    // The storage's own message (internal text, like a PostgreSQL one) is never what the requester sees.
    expect(await exportRow(org.id, row.id)).toMatchObject({
      status: 'queued',
      error: EXPORT_FAILED,
      fileKey: null,
    });

    const before = smtp.messages.length;
    await withDbScope(env.deps.em, org.id, (em) => failExport(services, em, row.id));
    expect(await exportRow(org.id, row.id)).toMatchObject({ status: 'failed', error: EXPORT_FAILED });
    const mail = (await smtp.waitFor(before + 1)).slice(before).find((m) => m.to.includes(org.owner.email))!;
    expect(mail.subject).toContain('failed');
    expect(mail.decoded).toContain('could not be completed');
    expect(mail.decoded).not.toContain('disk full');
    expect((await progressOf(org.id, row.id)).at(-1)).toMatchObject({
      status: 'failed',
      message: EXPORT_FAILED,
    });
    const listed = await (await callerAs(env.deps, org.owner)).exports.list();
    expect(JSON.stringify(listed)).not.toContain('disk full');
  });
});

describe('tenancy', () => {
  it('no export, file or link of A is reachable from B; staff see both through ops', async () => {
    const a = await createOrg(env.deps);
    const b = await createOrg(env.deps);
    const callerA = await callerAs(env.deps, a.owner);
    const callerB = await callerAs(env.deps, b.owner);
    const { export: e } = await callerA.exports.request({});
    await finished(a.id, e.id);
    await expect(callerB.exports.get({ id: e.id })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(callerB.exports.download({ id: e.id })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(callerB.exports.cancel({ id: e.id })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await callerB.exports.list()).items.map((x) => x.id)).not.toContain(e.id);
    // A member of both, acting in B, still cannot reach A's export through B.
    const both = await addMember(env.deps, b.id, 'admin');
    const callerBoth = await callerAs(env.deps, both, { organizationHeader: b.id });
    await expect(callerBoth.exports.get({ id: e.id })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // Row-level security holds even for raw SQL in B's scope.
    const leaked = await withDbScope(env.deps.em, b.id, (em) =>
      em.transactional((tx) =>
        tx
          .getConnection()
          .execute(`select id from exports where id = ?`, [e.id], 'all', tx.getTransactionContext()),
      ),
    );
    expect(leaked).toEqual([]);

    const staff = await createStaff(env.deps);
    const ops = await callerAs(env.deps, staff);
    const all = await ops.ops.files.exports({ organizationId: a.id });
    expect(all.items.map((x) => x.id)).toContain(e.id);
    await expect(callerA.ops.files.exports({})).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });
});
