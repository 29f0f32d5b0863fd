import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { withDbScope } from '../../platform/db/context.ts';
import { defineJob } from '../../platform/queue/definition.ts';
import { Worker } from '../../platform/queue/worker.ts';
import { callerAs, createOrg, createStaff, type TestOrg, type TestUser } from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { OpsAudit } from '../ops/ops-audit.entity.ts';
import { Schedule } from '../schedules/schedule.entity.ts';
import { createAlertEvaluator } from '../alerts/alerts.setup.ts';
import { FailedJob } from './failed-job.entity.ts';
import { failedJobStore } from './jobs.service.ts';
import { scheduledTasks } from './schedule.ts';
import { until } from '../../test/until.ts';

let env: TestEnv;
let org: TestOrg;
let staff: TestUser;
let worker: Worker;
let healed = false;
const runs: number[] = [];

const opsJob = defineJob({
  name: 'ops.sometimes',
  payload: z.object({ n: z.number() }),
  tries: 1,
  handle: ({ n }) => {
    runs.push(n);
    if (!healed) throw new Error(`job ${n} is broken`);
  },
});

beforeAll(async () => {
  env = await createTestEnv();
  org = await createOrg(env.deps);
  staff = await createStaff(env.deps);
  env.deps.queue.registry.register(opsJob);
  worker = new Worker(env.deps.queue, { queues: ['default', 'high'], concurrency: 3 });
  await worker.start();
});
afterAll(async () => {
  await worker.stop(1_000);
  await env.close();
});

/** The audit entries of one action, as staff's: `[targetId, operatorId]`. */
const audited = async (action: string) =>
  (
    await withDbScope(env.deps.em, undefined, (em) =>
      em.find(OpsAudit, { action }, { orderBy: { id: 'asc' } }),
    )
  ).map((r) => [r.targetId ?? null, r.operatorId ?? null]);

const failedRows = () =>
  withDbScope(env.deps.em, undefined, (em) => em.find(FailedJob, {}, { orderBy: { failedAt: 'asc' } }));

describe('failed jobs in PostgreSQL and the ops procedures', () => {
  it('stores final failures with their organization; staff list, retry, retry many, forget and prune them', async () => {
    const ids: string[] = [];
    for (const n of [1, 2, 3]) {
      const r = await env.deps.queue.dispatch(opsJob, { n }, { organizationId: org.id });
      ids.push(r.id!);
    }
    const rows = await until(async () => {
      const all = await failedRows();
      return all.length === 3 ? all : null;
    }, 'three failed rows');
    expect(rows.map((r) => r.organization?.id)).toEqual([org.id, org.id, org.id]);
    expect(
      rows.every((r) => r.error.includes('is broken') && r.attempts === 1 && r.queue === 'default'),
    ).toBe(true);

    const ops = await callerAs(env.deps, staff);
    const listed = await ops.ops.jobs.failed({ filter: { queue: 'default', search: 'broken' } });
    expect(listed.total).toBe(3);
    expect(JSON.parse(listed.items[0]!.payload)).toHaveProperty('n');
    expect((await ops.ops.jobs.list({ list: 'failed' })).total).toBe(3);
    const queues = await ops.ops.queues.list();
    expect(queues.find((q) => q.queue === 'default')).toMatchObject({
      failed: 3,
      waiting: 0,
      concurrency: 3,
    });

    healed = true;
    await ops.ops.jobs.retry({ id: ids[0]! });
    await until(
      async () => (await env.deps.queue.index.get(ids[0]!))?.status === 'completed',
      'the retried job',
    );
    expect(await ops.ops.jobs.forget({ id: ids[1]! })).toEqual({ forgotten: true });
    expect(await env.deps.queue.index.get(ids[1]!)).toBeNull();
    const many = await ops.ops.jobs.retryMany({ all: true });
    expect(many).toEqual({ retried: [ids[2]], missing: [] });
    await until(
      async () => (await env.deps.queue.index.get(ids[2]!))?.status === 'completed',
      'the third job',
    );
    expect(await failedRows()).toHaveLength(0);
    expect(runs.filter((n) => n === 2)).toHaveLength(1); // forgotten, never rerun

    await expect(ops.ops.jobs.retry({ id: ids[1]! })).rejects.toMatchObject({
      message: `No failed job ${ids[1]}`,
    });

    const store = failedJobStore(env.deps.em, env.deps.logger);
    const old = { ...rows[0]!, organization: undefined };
    await store.record({
      id: 'old-one',
      queue: 'low',
      name: opsJob.name,
      organizationId: null,
      batchId: null,
      payload: { n: 9 },
      envelope: {
        v: 1,
        name: opsJob.name,
        payload: { n: 9 },
        trace: '',
        at: 0,
        qa: 0,
        attempts: 1,
        exceptions: 1,
      },
      error: 'ancient',
      attempts: old.attempts,
      failedAt: new Date(Date.now() - 40 * 24 * 3600_000),
    });
    expect(await ops.ops.jobs.prune({ olderThanDays: 30 })).toEqual({ deleted: 1 });

    expect(await audited('job.retry')).toEqual([[ids[0], staff.id]]);
    expect(await audited('job.forget')).toEqual([[ids[1], staff.id]]);
    expect(await audited('job.retryMany')).toEqual([[null, staff.id]]);
    expect(await audited('job.prune')).toEqual([[null, staff.id]]);
  });

  it('refuses non-staff callers and bad input', async () => {
    const owner = await callerAs(env.deps, org.owner);
    await expect(owner.ops.jobs.failed({})).rejects.toMatchObject({ message: 'Staff only' });
    await expect(owner.ops.queues.pause({ queue: 'default' })).rejects.toMatchObject({
      message: 'Staff only',
    });
    const ops = await callerAs(env.deps, staff);
    await expect(ops.ops.queues.pause({ queue: 'nope' as never })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    await expect(ops.ops.jobs.retryMany({ ids: [] })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('pause and resume a queue, list workers, follow and cancel batches, and stream a live view', async () => {
    const ops = await callerAs(env.deps, staff);
    expect(await ops.ops.queues.pause({ queue: 'low' })).toEqual({ queue: 'low', paused: true });
    expect((await ops.ops.queues.list()).find((q) => q.queue === 'low')?.paused).toBe(true);
    const low = defineJob({
      name: 'ops.low',
      queue: 'low',
      payload: z.object({ n: z.number() }),
      handle: () => {},
    });
    env.deps.queue.registry.register(low);
    const lowWorker = new Worker(env.deps.queue, { queues: ['low'], concurrency: 1, leader: false });
    await lowWorker.start();
    const a = await env.deps.queue.dispatch(low, { n: 1 }, { organizationId: org.id });
    const b = await env.deps.queue.dispatch(low, { n: 2 }, { organizationId: org.id, delayMs: 60_000 });
    const waiting = await ops.ops.jobs.waiting({ queue: 'low' });
    expect(waiting.items.map((j) => [j.id, j.status, j.organizationId])).toEqual([[a.id, 'queued', org.id]]);
    expect((await ops.ops.jobs.get({ id: b.id! })).status).toBe('delayed');
    await ops.ops.queues.resume({ queue: 'low' });
    await until(
      async () => (await ops.ops.jobs.get({ id: a.id! })).status === 'completed',
      'the job after resume',
    );
    await lowWorker.stop(500);

    const workers = await ops.ops.workers.list();
    expect(workers.map((w) => w.id)).toContain(worker.id);

    const batch = await env.deps.queue.batch([{ job: opsJob, payload: { n: 10 } }], {
      name: 'one',
      organizationId: org.id,
    });
    await until(async () => (await ops.ops.batches.get({ id: batch.id })).pending === 0, 'the batch');
    expect((await ops.ops.batches.list({})).items.map((b) => b.id)).toContain(batch.id);
    expect((await ops.ops.batches.cancel({ id: batch.id })).cancelledAt).not.toBeNull();
    expect(await ops.ops.batches.retryFailed({ id: batch.id })).toEqual({ retried: [] });
    expect(await audited('queue.pause')).toEqual([['low', staff.id]]);
    expect(await audited('queue.resume')).toEqual([['low', staff.id]]);
    expect(await audited('batch.cancel')).toEqual([[batch.id, staff.id]]);
    expect(await audited('batch.retryFailed')).toEqual([[batch.id, staff.id]]);
    await expect(ops.ops.batches.get({ id: '00000000-0000-4000-8000-000000000000' })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });

    const live = (await ops.ops.queues.live())[Symbol.asyncIterator]();
    const first = await live.next();
    await live.return?.();
    // A tracked() event: [id, data].
    const [eventId, data] = first.value as unknown as [
      string,
      { queues: { queue: string }[]; workers: { id: string }[] },
    ];
    expect(eventId).toBe('1');
    expect(data.queues.map((q) => q.queue)).toEqual(['high', 'default', 'low', 'mail', 'webhooks']);
    expect(data.workers.map((w) => w.id)).toContain(worker.id);

    // Last: the test's worker takes it as its own restart request.
    await ops.ops.workers.terminate();
    expect(await audited('workers.terminate')).toEqual([[null, staff.id]]);
  });

  it('staff see waiting jobs and running slots per organization of a queue; the leader copies plan tiers to the queues', async () => {
    const ops = await callerAs(env.deps, staff);
    await ops.ops.queues.pause({ queue: 'low' });
    const job = defineJob({ name: 'ops.tenant', queue: 'low', payload: z.object({}), handle: () => {} });
    env.deps.queue.registry.register(job);
    const paid = await createOrg(env.deps);
    await withDbScope(env.deps.em, undefined, (em) =>
      em.getConnection().execute("update organizations set tier = 'enterprise' where id = ?", [paid.id]),
    );
    await scheduledTasks(env.deps)
      .find((t) => t.name === 'queue:tiers')!
      .run();
    await env.deps.queue.dispatchMany(
      [1, 2, 3].map(() => ({ job, payload: {} })),
      { organizationId: org.id },
    );
    await env.deps.queue.dispatch(job, {}, { organizationId: paid.id });
    const tenants = await ops.ops.queues.tenants({ queue: 'low' });
    const caps = env.deps.queue.settings.fairness.tiers;
    expect(tenants.map((t) => [t.organizationId, t.waiting, t.running, t.tier, t.cap])).toEqual([
      [org.id, 3, 0, 'free', caps.free.cap],
      [paid.id, 1, 0, 'enterprise', caps.enterprise.cap],
    ]);
    expect(tenants[1]!.name).toEqual(expect.any(String));
    expect((await ops.ops.queues.list()).find((q) => q.queue === 'low')?.waiting).toBe(4);
    await expect(ops.ops.queues.tenants({ queue: 'nope' as 'low' })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    await ops.ops.queues.resume({ queue: 'low' });
  });

  it('the leader schedules the nightly prune, the outbox sweep every 10 s, the export and import reconcilers, the tenants’ schedules and an alert evaluation every minute, and the storage, expired-export and stale-upload sweeps hourly', async () => {
    const tasks = scheduledTasks(env.deps);
    expect(tasks.map((t) => [t.name, t.cron])).toEqual([
      ['jobs:prune-failed', '0 15 3 * * *'],
      ['realtime:outbox', '*/10 * * * * *'],
      ['exports:reconcile', '15 * * * * *'],
      ['imports:reconcile', '20 * * * * *'],
      ['storage:sweep', '0 40 * * * *'],
      ['exports:purge-expired', '0 45 * * * *'],
      ['imports:sweep-uploads', '0 50 * * * *'],
      ['schedules:fire', '0 * * * * *'],
      ['alerts:evaluate', '0 * * * * *'],
      ['queue:tiers', '25 * * * * *'],
    ]);
    // The schedules task queues a tenant's due schedule.
    const org = await createOrg(env.deps);
    const made = await (
      await callerAs(env.deps, org.owner)
    ).schedules.create({ job: 'exports.scheduled', schedule: 'daily at 06:00', payload: { lastDays: 1 } });
    await withDbScope(env.deps.em, org.id, (em) =>
      em.nativeUpdate(Schedule, { id: made.id }, { nextRunAt: new Date(Date.now() - 60_000) }),
    );
    await tasks.find((t) => t.name === 'schedules:fire')!.run();
    const fired = await withDbScope(env.deps.em, org.id, (em) =>
      em.findOneOrFail(Schedule, { id: made.id }, { refresh: true }),
    );
    expect(fired.lastJobId).toEqual(expect.any(String));
    const disk = async () =>
      (await createAlertEvaluator(env.deps).statuses()).find((s) => s.rule.id === 'disk')?.value;
    expect(await disk()).toBeNull();
    await tasks.find((t) => t.name === 'alerts:evaluate')!.run();
    expect(await disk()).toEqual(expect.any(Number));
  });
});
