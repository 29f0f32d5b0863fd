import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { withDbScope } from '../../platform/db/context.ts';
import { defineJob } from '../../platform/queue/definition.ts';
import { Worker } from '../../platform/queue/worker.ts';
import { callerAs, createOrg, createStaff, type TestOrg, type TestUser } from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { until } from '../../test/until.ts';
import { OpsAudit } from '../ops/ops-audit.entity.ts';
import type { FailedJobRecord } from '../../platform/queue/system.ts';

// Job search and bulk actions (ADR 0026) against the real Redis, PostgreSQL and a worker.

const EMAIL = 'very-secret-recipient@example.test';
const lines: string[] = [];
let env: TestEnv;
let a: TestOrg;
let b: TestOrg;
let staff: TestUser;
let worker: Worker;
let healed = false;
const ran: string[] = [];
const failedStore = new Map<string, FailedJobRecord>();

const invoiceJob = defineJob({
  name: 'search.invoice',
  payload: z.object({ invoiceId: z.string(), email: z.string(), fail: z.boolean().default(false) }),
  tries: 1,
  tags: () => ['invoice'],
  indexed: (p) => ({ invoiceId: p.invoiceId, email: p.email }),
  sensitive: ['email'],
  handle: (p, ctx) => {
    ran.push(p.invoiceId);
    ctx.logger.info({ payload: p }, `sending ${p.invoiceId} to ${p.email}`);
    if (p.fail && !healed) throw new Error(`no mailbox for ${p.email}`);
  },
});
/** Fails until healed; nothing sensitive, so its failed record keeps the envelope a retry needs. */
const flakyJob = defineJob({
  name: 'search.flaky',
  payload: z.object({ invoiceId: z.string() }),
  tries: 1,
  tags: () => ['invoice'],
  indexed: (p) => ({ invoiceId: p.invoiceId }),
  handle: (p) => {
    ran.push(p.invoiceId);
    if (!healed) throw new Error(`invoice ${p.invoiceId} is broken`);
  },
});
const otherJob = defineJob({ name: 'search.other', payload: z.object({}), handle: () => undefined });

beforeAll(async () => {
  const logStream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  env = await createTestEnv({ LOG_LEVEL: 'trace' }, { logStream });
  a = await createOrg(env.deps);
  b = await createOrg(env.deps);
  staff = await createStaff(env.deps);
  env.deps.queue.registry.register(invoiceJob, flakyJob, otherJob);
  // In memory: jobs.int.test.ts counts every failed_jobs row of the run's database while it runs.
  env.deps.queue.failedSink = {
    record: async (f) => void failedStore.set(f.id, f),
    forget: async (ids) => void ids.forEach((id) => failedStore.delete(id)),
  };
  worker = new Worker(env.deps.queue, { queues: ['default'], concurrency: 4 });
  await worker.start();
});
afterAll(async () => {
  await worker.stop(1_000);
  await env.close();
});

const q = () => env.deps.queue;
const ops = () => callerAs(env.deps, staff);
const dispatch = async (
  org: TestOrg | null,
  invoiceId: string,
  opts: { fail?: boolean; delayMs?: number } = {},
) => {
  const r = await q().dispatch(
    invoiceJob,
    { invoiceId, email: EMAIL, fail: opts.fail ?? false },
    { organizationId: org?.id ?? null, ...(opts.delayMs ? { delayMs: opts.delayMs } : {}) },
  );
  return r.id!;
};
const statusOf = async (id: string) => (await q().index.get(id))?.status;

const ids: Record<string, string[]> = { done: [], failed: [], delayed: [], b: [], other: [] };
let middle = 0;

describe('job search', () => {
  beforeAll(async () => {
    for (const n of [1, 2, 3]) ids.done!.push(await dispatch(a, `inv-${n}`));
    for (const n of [4, 5]) {
      ids.failed!.push(
        (await q().dispatch(flakyJob, { invoiceId: `inv-${n}` }, { organizationId: a.id })).id!,
      );
    }
    await new Promise((r) => setTimeout(r, 5));
    middle = Date.now();
    for (const n of [6, 7]) ids.delayed!.push(await dispatch(a, `inv-${n}`, { delayMs: 3_600_000 }));
    for (const n of [8, 9]) ids.b!.push(await dispatch(b, `inv-${n}`));
    ids.other!.push((await q().dispatch(otherJob, {}, { organizationId: null })).id!);
    const running = [...ids.done!, ...ids.failed!, ...ids.b!, ...ids.other!];
    await until(async () => {
      const s = await Promise.all(running.map(statusOf));
      return s.every((x) => x === 'completed' || x === 'failed');
    }, 'the jobs to run');
  });

  it('returns exactly the matching jobs across states, newest first, for every kind of filter', async () => {
    const ops = await callerAs(env.deps, staff);
    const find = async (filter: Parameters<typeof ops.ops.jobs.search>[0]['filter']) =>
      (await ops.ops.jobs.search({ filter, limit: 100 })).items.map((j) => j.id).sort();
    const sorted = (...l: string[][]) => l.flat().sort();

    expect(await find({ name: 'search.invoice' })).toEqual(sorted(ids.done!, ids.delayed!, ids.b!));
    expect(await find({ name: 'search.invoice', organizationId: a.id })).toEqual(
      sorted(ids.done!, ids.delayed!),
    );
    expect(await find({ organizationId: a.id })).toEqual(sorted(ids.done!, ids.failed!, ids.delayed!));
    expect(await find({ fields: { invoiceId: 'inv-4' } })).toEqual([ids.failed![0]]);
    expect(await find({ organizationId: 'none' })).toEqual(ids.other);
    expect(await find({ organizationId: a.id, state: 'failed' })).toEqual(sorted(ids.failed!));
    expect(await find({ state: 'pending' })).toEqual(sorted(ids.delayed!));
    expect(await find({ tag: 'invoice', state: 'completed' })).toEqual(sorted(ids.done!, ids.b!));
    expect(await find({ fields: { invoiceId: 'inv-3' } })).toEqual([ids.done![2]]);
    expect(await find({ fields: { invoiceId: 'inv-3' }, organizationId: b.id })).toEqual([]);
    expect(await find({ tag: 'invoice', from: middle })).toEqual(sorted(ids.delayed!, ids.b!));
    expect(await find({ organizationId: a.id, to: middle - 1 })).toEqual(sorted(ids.done!, ids.failed!));
    // A sensitive field is never indexed, even when declared searchable.
    expect(await find({ fields: { email: EMAIL } })).toEqual([]);

    const live = await ops.ops.jobs.search({ filter: { state: 'pending' } });
    expect(live.items.map((j) => j.status)).toEqual(['delayed', 'delayed']);
    expect(live.cursor).toBeNull();
  });

  it('pages with a cursor: every job once, newest dispatch first', async () => {
    const ops = await callerAs(env.deps, staff);
    const all = await ops.ops.jobs.search({ filter: { name: 'search.invoice' }, limit: 100 });
    const paged: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await ops.ops.jobs.search({ filter: { name: 'search.invoice' }, limit: 2, cursor });
      expect(page.items.length).toBeLessThanOrEqual(2);
      paged.push(...page.items.map((j) => j.id));
      cursor = page.cursor ?? undefined;
    } while (cursor);
    expect(paged).toEqual(all.items.map((j) => j.id));
    const at = all.items.map((j) => j.enqueuedAt);
    expect(at).toEqual([...at].sort((x, y) => y - x));
  });

  it('refuses bad filters and cursors with typed errors, and anyone but staff', async () => {
    const ops = await callerAs(env.deps, staff);
    await expect(ops.ops.jobs.search({ filter: {}, cursor: 'bm9wZQ' })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    await expect(ops.ops.jobs.search({ filter: { from: 10, to: 5 } })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    await expect(ops.ops.jobs.search({ filter: { fields: { 'bad-name': 'x' } } })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    const owner = await callerAs(env.deps, a.owner);
    await expect(owner.ops.jobs.search({ filter: {} })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(owner.ops.jobs.bulkPreview({ action: 'retry', filter: {} })).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
  });

  it('bulk retry by filter retries exactly the previewed failed jobs, once, and is audited', async () => {
    const ops = await callerAs(env.deps, staff);
    const filter = { tag: 'invoice', organizationId: a.id };
    const preview = await ops.ops.jobs.bulkPreview({ action: 'retry', filter });
    expect(preview.count).toBe(2);
    await expect(
      ops.ops.jobs.bulk({
        action: 'retry',
        filter: { ...filter, state: 'failed' },
        confirm: preview.confirm,
      }),
    ).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    // The refused attempt used the token up.
    const again = await ops.ops.jobs.bulkPreview({ action: 'retry', filter });
    healed = true;
    ran.length = 0;
    const r = await ops.ops.jobs.bulk({ action: 'retry', filter, confirm: again.confirm });
    expect(r).toMatchObject({ action: 'retry', count: 2, done: 2, skipped: 0 });
    expect([...r.ids].sort()).toEqual([...ids.failed!].sort());
    await until(
      async () => (await Promise.all(ids.failed!.map(statusOf))).every((s) => s === 'completed'),
      'the retried jobs to complete',
    );
    expect(ran.sort()).toEqual(['inv-4', 'inv-5']);
    await expect(
      ops.ops.jobs.bulk({ action: 'retry', filter, confirm: again.confirm }),
    ).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    const audit = await withDbScope(env.deps.em, undefined, (em) =>
      em.find(OpsAudit, { action: 'job.bulkRetry' }),
    );
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ operatorId: staff.id, targetType: 'job', targetId: null });
    expect(audit[0]!.details).toMatchObject({ filter, count: 2, done: 2, skipped: 0 });
    expect((await ops.ops.jobs.search({ filter: { state: 'failed' } })).items).toEqual([]);
  });

  it('bulk cancel takes waiting and delayed jobs out of their queue for good', async () => {
    const ops = await callerAs(env.deps, staff);
    const filter = { organizationId: a.id, state: 'pending' as const };
    const preview = await ops.ops.jobs.bulkPreview({ action: 'cancel', filter });
    expect(preview.count).toBe(2);
    const r = await ops.ops.jobs.bulk({ action: 'cancel', filter, confirm: preview.confirm });
    expect(r).toMatchObject({ count: 2, done: 2, skipped: 0 });
    expect(await env.deps.redis.get('queue').zcard(q().keys.store('default').delayed)).toBe(0);
    const cancelled = await ops.ops.jobs.search({ filter: { state: 'cancelled' } });
    expect(cancelled.items.map((j) => j.id).sort()).toEqual([...ids.delayed!].sort());
    const audit = await withDbScope(env.deps.em, undefined, (em) =>
      em.find(OpsAudit, { action: 'job.bulkCancel' }),
    );
    expect(audit[0]!.details).toMatchObject({ count: 2, done: 2 });
  });

  it('bulk delete removes finished jobs from the index and search', async () => {
    const ops = await callerAs(env.deps, staff);
    const filter = { organizationId: b.id };
    const preview = await ops.ops.jobs.bulkPreview({ action: 'delete', filter });
    expect(preview.count).toBe(2);
    const r = await ops.ops.jobs.bulk({ action: 'delete', filter, confirm: preview.confirm });
    expect(r).toMatchObject({ count: 2, done: 2 });
    expect((await ops.ops.jobs.search({ filter })).items).toEqual([]);
    expect(await q().index.get(ids.b![0]!)).toBeNull();
  });

  it('a sensitive field never appears in the index, the ops answers or a log line', async () => {
    // A failure that quotes the value, after the healed retries above: fails for good again.
    healed = false;
    const failing = await dispatch(a, 'inv-10', { fail: true });
    await until(async () => (await statusOf(failing)) === 'failed', 'the job to fail');
    // The failed store keeps the value (a retry needs it); the index record keeps no envelope.
    await until(() => failedStore.has(failing), 'its failed store record');
    expect(JSON.stringify(failedStore.get(failing)!.payload)).toContain(EMAIL);
    const redis = env.deps.redis.get('queue');
    // Every key under the prefix, with its value whatever its type.
    const dump: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${env.config.keyPrefix}*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        dump.push(key);
        const type = await redis.type(key);
        if (type === 'string') dump.push((await redis.get(key)) ?? '');
        else if (type === 'hash') dump.push(...Object.entries(await redis.hgetall(key)).flat());
        else if (type === 'zset') dump.push(...(await redis.zrange(key, '0', '-1')));
        else if (type === 'set') dump.push(...(await redis.smembers(key)));
        else if (type === 'list') dump.push(...(await redis.lrange(key, 0, -1)));
      }
    } while (cursor !== '0');
    expect(dump.some((v) => v.includes(`jobrec:${failing}`))).toBe(true);
    expect(dump.filter((v) => v.includes(EMAIL))).toEqual([]);

    const ops = await callerAs(env.deps, staff);
    const answers = [
      await ops.ops.jobs.search({ filter: { name: 'search.invoice' }, limit: 100 }),
      await ops.ops.jobs.get({ id: failing }),
      await ops.ops.jobs.list({ list: 'failed' }),
      await ops.ops.jobs.list({ list: 'recent' }),
    ];
    const text = JSON.stringify(answers);
    expect(text).toContain(failing);
    expect(text).toContain('[redacted]');
    expect(text).not.toContain(EMAIL);

    expect(lines.some((l) => l.includes('sending inv-10 to [redacted]'))).toBe(true);
    expect(lines.some((l) => l.includes('no mailbox for [redacted]'))).toBe(true);
    expect(lines.filter((l) => l.includes(EMAIL))).toEqual([]);
  });

  it('the trim removes search entries past their retention, and the keys left empty', async () => {
    const redis = env.deps.redis.get('queue');
    const ixKeys = async () => {
      const found: string[] = [];
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${q().keys.q}ix:*`, 'COUNT', 1000);
        cursor = next;
        found.push(...keys);
      } while (cursor !== '0');
      return found;
    };
    expect((await ixKeys()).length).toBeGreaterThan(10);
    const { recentMs, failedMs } = q().settings.retention;
    // Past the recent window: only the failed family is left.
    await q().index.trim(Date.now() + recentMs + 1);
    expect((await ixKeys()).every((k) => k.startsWith(`${q().keys.q}ix:f`))).toBe(true);
    const completed = await (await ops()).ops.jobs.search({ filter: { state: 'completed' } });
    expect(completed.items).toEqual([]);
    await q().index.trim(Date.now() + failedMs + 1);
    expect(await ixKeys()).toEqual([]);
  });

  it('bulk cancel takes a waiting job out of its organization’s list (ADR 0024)', async () => {
    await worker.stop(1_000); // nothing takes it meanwhile
    try {
      const id = await dispatch(b, 'inv-waiting');
      const caller = await ops();
      const filter = { organizationId: b.id, state: 'pending' as const };
      const preview = await caller.ops.jobs.bulkPreview({ action: 'cancel', filter });
      expect(preview.count).toBe(1);
      expect(
        await caller.ops.jobs.bulk({ action: 'cancel', filter, confirm: preview.confirm }),
      ).toMatchObject({
        done: 1,
      });
      expect(await statusOf(id)).toBe('cancelled');
      const queue = (await q().admin.counts()).find((c) => c.queue === 'default')!;
      expect(queue.waiting + queue.delayed + queue.active).toBe(0);
    } finally {
      worker = new Worker(env.deps.queue, { queues: ['default'], concurrency: 4 });
      await worker.start();
    }
  });
});
