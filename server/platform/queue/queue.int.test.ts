import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AppError } from '../../../shared/errors.ts';
import { createOrg, type TestOrg } from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { currentOrganizationId } from '../db/context.ts';
import { defineJob, type AnyJobDefinition, type CallbackEvent } from './definition.ts';
import { overlapHolder } from './limits.ts';
import { JobRegistry } from './registry.ts';
import { mergeSettings, queueSettingsFor, type QueueSettings } from './settings.ts';
import { JobTimeoutError } from './failure.ts';
import { QueueSystem, type FailedJobRecord } from './system.ts';
import { Worker, type WorkerOptions } from './worker.ts';
import { until } from '../../test/until.ts';

let env: TestEnv;
let org: TestOrg;
let n = 0;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  env = await createTestEnv();
  org = await createOrg(env.deps);
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
afterAll(() => env.close());

interface Setup {
  system: QueueSystem;
  worker: Worker | null;
  failures: FailedJobRecord[];
  events: CallbackEvent[];
}

/** A queue system of its own (own key prefix and registry) with an in-process worker. */
async function setup(
  defs: AnyJobDefinition[],
  opts: { settings?: Partial<QueueSettings>; worker?: WorkerOptions | false; callbacks?: string[] } = {},
): Promise<Setup> {
  n += 1;
  const registry = new JobRegistry();
  for (const d of defs) registry.register(d);
  const events: CallbackEvent[] = [];
  for (const cb of opts.callbacks ?? []) registry.callback(cb, (e) => void events.push(e));
  const failures: FailedJobRecord[] = [];
  const system = new QueueSystem({
    config: { ...env.config, keyPrefix: `${env.config.keyPrefix}${n}:` },
    redis: env.deps.redis.get('queue'),
    em: env.deps.em,
    logger: env.deps.logger,
    registry,
    settings: mergeSettings(queueSettingsFor('test'), opts.settings),
    failedSink: {
      record: async (f) => void failures.push(f),
      forget: async (ids) =>
        void ids.forEach((id) =>
          failures.splice(
            failures.findIndex((f) => f.id === id),
            1,
          ),
        ),
    },
  });
  let worker: Worker | null = null;
  if (opts.worker !== false) {
    worker = new Worker(system, { queues: ['default', 'high'], concurrency: 5, ...opts.worker });
    await worker.start();
  }
  cleanups.push(async () => {
    await worker?.stop(1_000);
    await system.close();
  });
  return { system, worker, failures, events };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('dispatch and run', () => {
  it('runs the handler inside the tenant scope with the organization and trace of the dispatcher', async () => {
    const seen: { org: string | undefined; scoped: string | undefined; trace: string; attempt: number }[] =
      [];
    const job = defineJob({
      name: 'ctx',
      payload: z.object({ n: z.number() }),
      handle: (_p, ctx) => {
        seen.push({
          org: ctx.organizationId,
          scoped: currentOrganizationId(),
          trace: ctx.traceparent,
          attempt: ctx.attempt,
        });
      },
    });
    const { system } = await setup([job]);
    const parent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const r = await system.dispatch(
      job,
      { n: 1 },
      { organizationId: org.id, traceparent: parent, tags: ['t1'] },
    );
    expect(r.dispatched).toBe(true);
    const done = await until(async () => {
      const j = await system.index.get(r.id!);
      return j?.status === 'completed' ? j : null;
    }, 'completion');
    expect(seen).toHaveLength(1);
    expect(seen[0]!.org).toBe(org.id);
    expect(seen[0]!.scoped).toBe(org.id);
    expect(seen[0]!.trace).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
    expect(seen[0]!.attempt).toBe(1);
    expect(done.organizationId).toBe(org.id);
    expect(done.tags).toEqual(['t1']);
    expect((await system.index.list('completed', { offset: 0, limit: 10 })).items.map((j) => j.id)).toEqual([
      r.id,
    ]);
    expect(
      (await system.index.list('recent', { offset: 0, limit: 10, tag: 't1' })).items.map((j) => j.id),
    ).toEqual([r.id]);
    await system.metrics.flush();
    const series = await system.metrics.series({ minutes: 2, queue: 'default', name: 'ctx' });
    expect(series[0]!.minutes.reduce((a, m) => a + m.processed, 0)).toBe(1);
  });

  it('a delayed job does not start before its delay', async () => {
    let startedAt = 0;
    const job = defineJob({
      name: 'later',
      payload: z.object({}),
      handle: () => void (startedAt = Date.now()),
    });
    const { system } = await setup([job]);
    const t0 = Date.now();
    const r = await system.dispatch(job, {}, { delayMs: 400 });
    expect((await system.index.get(r.id!))?.status).toBe('delayed');
    await until(() => startedAt, 'the delayed job');
    expect(startedAt - t0).toBeGreaterThanOrEqual(400);
  });
});

describe('bad payloads are refused at dispatch', () => {
  const job = defineJob({
    name: 'strict',
    payload: z.object({ email: z.email(), count: z.number().int() }),
    handle: () => {},
  });

  it('schema mismatch, oversized payloads and unknown names each get a clear error and queue nothing', async () => {
    const { system } = await setup([job], { worker: false });
    const mismatch = await system
      .dispatch(job, { email: 'nope', count: 1.5 } as never)
      .catch((e: unknown) => e);
    expect(mismatch).toBeInstanceOf(AppError);
    expect((mismatch as AppError).code).toBe('VALIDATION_FAILED');
    expect((mismatch as AppError).message).toContain('"strict"');
    expect(Object.keys((mismatch as AppError).details.fieldErrors ?? {}).sort()).toEqual(['count', 'email']);

    const big = await system
      .dispatch(job, { email: 'a@b.co', count: 1, pad: 'x'.repeat(70_000) } as never)
      .catch((e: unknown) => e);
    expect((big as AppError).code).toBe('PAYLOAD_TOO_LARGE');
    expect((big as AppError).message).toMatch(/limit is 65536/);

    const unknown = await system.dispatch('no.such.job', {}).catch((e: unknown) => e);
    expect((unknown as AppError).code).toBe('VALIDATION_FAILED');
    expect((unknown as AppError).message).toBe('Unknown job "no.such.job"');

    // One bad job in a batch: nothing of the batch is queued.
    const batch = await system
      .batch([
        { job, payload: { email: 'a@b.co', count: 1 } },
        { job, payload: { email: 'bad', count: 1 } },
      ])
      .catch((e: unknown) => e);
    expect((batch as AppError).code).toBe('VALIDATION_FAILED');
    const counts = await system.counts();
    expect(counts.find((c) => c.queue === 'default')!.waiting).toBe(0);
    expect((await system.index.list('recent', { offset: 0, limit: 10 })).total).toBe(0);
  });
});

describe('retries', () => {
  it('follow the backoff array, stop at tries, and run failed() once', async () => {
    const runs: number[] = [];
    let failedCalls = 0;
    const job = defineJob({
      name: 'flaky',
      payload: z.object({}),
      tries: 3,
      backoff: [150, 400],
      handle: () => {
        runs.push(Date.now());
        throw new Error('boom');
      },
      failed: () => void (failedCalls += 1),
    });
    const { system, failures } = await setup([job]);
    const r = await system.dispatch(job, {});
    const final = await until(async () => {
      const j = await system.index.get(r.id!);
      return j?.status === 'failed' ? j : null;
    }, 'final failure');
    await sleep(300);
    expect(runs).toHaveLength(3);
    expect(runs[1]! - runs[0]!).toBeGreaterThanOrEqual(150);
    expect(runs[2]! - runs[1]!).toBeGreaterThanOrEqual(400);
    expect(failedCalls).toBe(1);
    expect(final.attempts).toBe(3);
    expect(final.error).toContain('boom');
    expect(failures.map((f) => f.id)).toEqual([r.id]);
    expect((await system.index.list('failed', { offset: 0, limit: 10 })).items.map((j) => j.id)).toEqual([
      r.id,
    ]);
  });

  it('maxExceptions stops retries before tries runs out', async () => {
    let runs = 0;
    const job = defineJob({
      name: 'max-exc',
      payload: z.object({}),
      tries: 10,
      maxExceptions: 2,
      handle: () => {
        runs += 1;
        throw new Error('again');
      },
    });
    const { system, failures } = await setup([job]);
    const r = await system.dispatch(job, {});
    await until(async () => (await system.index.get(r.id!))?.status === 'failed', 'failure');
    await sleep(200);
    expect(runs).toBe(2);
    expect(failures).toHaveLength(1);
  });

  it('a handler past its timeout is aborted through its signal and retried', async () => {
    const reasons: unknown[] = [];
    let attempts = 0;
    const job = defineJob({
      name: 'slow',
      payload: z.object({}),
      timeoutMs: 200,
      tries: 2,
      handle: async (_p, ctx) => {
        attempts += 1;
        if (ctx.attempt === 1) {
          await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
          reasons.push(ctx.signal.reason);
          // A handler ignoring the abort keeps running but is abandoned: its late result changes nothing.
          await sleep(100);
        }
      },
    });
    const { system } = await setup([job]);
    const r = await system.dispatch(job, {});
    const done = await until(async () => {
      const j = await system.index.get(r.id!);
      return j?.status === 'completed' ? j : null;
    }, 'completion after the timeout');
    expect(attempts).toBe(2);
    expect(done.attempts).toBe(2);
    expect(reasons[0]).toBeInstanceOf(JobTimeoutError);
  });

  it('retry() reruns a failed job under its id with fresh attempts', async () => {
    let fixed = false;
    const job = defineJob({
      name: 'fixable',
      payload: z.object({}),
      tries: 1,
      handle: () => {
        if (!fixed) throw new Error('not yet');
      },
    });
    const { system, failures } = await setup([job]);
    const r = await system.dispatch(job, {});
    await until(async () => (await system.index.get(r.id!))?.status === 'failed', 'failure');
    fixed = true;
    await system.retry(r.id!);
    const done = await until(async () => {
      const j = await system.index.get(r.id!);
      return j?.status === 'completed' ? j : null;
    }, 'completion');
    expect(done.attempts).toBe(1);
    expect(failures).toHaveLength(0);
    await expect(system.retry(r.id!)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('unique, overlap and rate limits', () => {
  it('a unique job dispatched twice runs once; the second dispatch says so', async () => {
    let runs = 0;
    const job = defineJob({
      name: 'uniq',
      payload: z.object({ key: z.string() }),
      uniqueId: (p) => p.key,
      uniqueForMs: 60_000,
      handle: async () => {
        runs += 1;
        await sleep(100);
      },
    });
    const { system } = await setup([job]);
    const first = await system.dispatch(job, { key: 'a' });
    const second = await system.dispatch(job, { key: 'a' });
    const other = await system.dispatch(job, { key: 'b' });
    expect(first.dispatched).toBe(true);
    expect(second).toEqual({ dispatched: false, id: first.id, reason: 'duplicate' });
    expect(other.dispatched).toBe(true);
    await until(async () => (await system.index.get(first.id!))?.status === 'completed', 'first');
    await until(async () => (await system.index.get(other.id!))?.status === 'completed', 'other');
    expect(runs).toBe(2);
    // Finished: the lock is released and the same key may be queued again.
    expect((await system.dispatch(job, { key: 'a' })).dispatched).toBe(true);
  });

  it('jobs with the same overlap key never run at the same time', async () => {
    let current = 0;
    let peak = 0;
    let done = 0;
    const job = defineJob({
      name: 'exclusive',
      payload: z.object({ account: z.string() }),
      tries: 0,
      retryUntilMs: 60_000,
      withoutOverlapping: { key: (p) => p.account, releaseAfterMs: 30 },
      handle: async () => {
        current += 1;
        peak = Math.max(peak, current);
        await sleep(60);
        current -= 1;
        done += 1;
      },
    });
    const { system } = await setup([job]);
    await system.dispatchMany(Array.from({ length: 6 }, () => ({ job, payload: { account: 'acme' } })));
    await until(() => done === 6, 'six runs');
    expect(peak).toBe(1);
  });

  it('a handler abandoned at its timeout keeps its overlap key until it returns', async () => {
    const runs: { start: number; end: number | undefined }[] = [];
    let abandoned = false;
    const job = defineJob({
      name: 'abandoned',
      payload: z.object({ n: z.number() }),
      tries: 0,
      retryUntilMs: 60_000,
      timeoutMs: 100,
      withoutOverlapping: { key: () => 'one', releaseAfterMs: 30 },
      handle: async () => {
        const run = { start: Date.now(), end: undefined as number | undefined };
        runs.push(run);
        // The first run ignores its signal and goes on well past its timeout (JavaScript cannot stop it).
        if (!abandoned) {
          abandoned = true;
          await sleep(600);
        }
        run.end = Date.now();
      },
    });
    const { system } = await setup([job]);
    const ids = await system.dispatchMany([0, 1].map((n) => ({ job, payload: { n } })));
    await until(async () => {
      const jobs = await system.index.many(ids);
      return jobs.length === 2 && jobs.every((j) => j.status === 'completed');
    }, 'both jobs');
    // The abandoned run, then the timed-out job's next attempt and the other job, one after the other.
    expect(runs).toHaveLength(3);
    for (let i = 1; i < runs.length; i++) expect(runs[i]!.start).toBeGreaterThanOrEqual(runs[i - 1]!.end!);
  });

  it('a rate-limited job is released and runs later', async () => {
    const starts: number[] = [];
    const job = defineJob({
      name: 'limited',
      payload: z.object({ i: z.number() }),
      tries: 0,
      retryUntilMs: 60_000,
      rateLimit: { limit: 1, perSeconds: 1 },
      handle: () => void starts.push(Date.now()),
    });
    const { system } = await setup([job]);
    const ids = await system.dispatchMany([0, 1].map((i) => ({ job, payload: { i } })));
    await until(() => starts.length === 2, 'both runs');
    const jobs = await system.index.many(ids);
    expect(jobs.every((j) => j.status === 'completed')).toBe(true);
    // The second one was released (an extra attempt, no exception) and ran in the next window.
    expect(jobs.map((j) => j.attempts).sort()).toEqual([1, 2]);
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(900);
  });
});

describe('chains', () => {
  it('stop at the failing step and run catch once', async () => {
    const ran: string[] = [];
    const step = defineJob({
      name: 'step',
      payload: z.object({ name: z.string(), fail: z.boolean().default(false) }),
      tries: 2,
      handle: (p) => {
        ran.push(p.name);
        if (p.fail) throw new Error(`${p.name} broke`);
      },
    });
    const { system, events } = await setup([step], { callbacks: ['chain.failed'] });
    const { chainId } = await system.chain(
      [
        { job: step, payload: { name: 'a' } },
        { job: step, payload: { name: 'b', fail: true } },
        { job: step, payload: { name: 'c' } },
      ],
      { catch: 'chain.failed', organizationId: org.id },
    );
    await until(() => events.length === 1, 'the catch callback');
    await sleep(500);
    expect(ran).toEqual(['a', 'b', 'b']);
    expect(events).toEqual([
      {
        kind: 'chain-catch',
        chainId,
        failedJob: { id: `chain:${chainId}:1`, name: 'step', error: 'b broke' },
      },
    ]);
  });

  it('refuse an unknown catch callback and a bad step payload before queueing anything', async () => {
    const step = defineJob({ name: 'step2', payload: z.object({ n: z.number() }), handle: () => {} });
    const { system } = await setup([step], { worker: false });
    await expect(system.chain([{ job: step, payload: { n: 1 } }], { catch: 'nope' })).rejects.toThrow(
      /Unknown callback "nope"/,
    );
    await expect(
      system.chain([
        { job: step, payload: { n: 1 } },
        { job: step, payload: { n: 'x' } },
      ]),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    expect((await system.counts()).every((c) => c.waiting === 0)).toBe(true);
  });
});

describe('batches', () => {
  it('50 jobs with 3 failures and allowFailures: progress, catch once, finally once, retry reruns exactly the 3', async () => {
    const runs = new Map<number, number>();
    let healed = false;
    const item = defineJob({
      name: 'item',
      payload: z.object({ i: z.number() }),
      tries: 1,
      handle: (p) => {
        runs.set(p.i, (runs.get(p.i) ?? 0) + 1);
        if ([7, 21, 42].includes(p.i) && !healed) throw new Error(`item ${p.i} failed`);
      },
    });
    const { system, events, failures } = await setup([item], {
      callbacks: ['b.then', 'b.catch', 'b.finally'],
      worker: { queues: ['default', 'high'], concurrency: 10 },
    });
    const batch = await system.batch(
      Array.from({ length: 50 }, (_, i) => ({ job: item, payload: { i } })),
      {
        name: 'import',
        then: 'b.then',
        catch: 'b.catch',
        finally: 'b.finally',
        allowFailures: true,
        organizationId: org.id,
      },
    );
    expect(batch.total).toBe(50);
    await until(() => events.some((e) => e.kind === 'finally'), 'finally');
    await sleep(300);
    const info = (await system.getBatch(batch.id))!;
    expect(info).toMatchObject({ total: 50, pending: 3, failed: 3, processed: 47, progress: 100 });
    expect(info.failedJobIds.sort()).toEqual([7, 21, 42].map((i) => batch.jobIds[i]).sort());
    expect(info.finishedAt).not.toBeNull();
    expect(events.filter((e) => e.kind === 'catch')).toHaveLength(1);
    expect(events.filter((e) => e.kind === 'finally')).toHaveLength(1);
    expect(events.filter((e) => e.kind === 'then')).toHaveLength(0);
    expect(failures).toHaveLength(3);

    healed = true;
    const before = new Map(runs);
    const retried = await system.retryBatchFailures(batch.id);
    expect(retried.sort()).toEqual(info.failedJobIds.sort());
    await until(() => events.some((e) => e.kind === 'then'), 'then');
    await sleep(300);
    const rerun = [...runs].filter(([i, count]) => count > before.get(i)!).map(([i]) => i);
    expect(rerun.sort((a, b) => a - b)).toEqual([7, 21, 42]);
    expect(await system.getBatch(batch.id)).toMatchObject({ pending: 0, failed: 0, progress: 100 });
    expect(events.filter((e) => e.kind === 'finally')).toHaveLength(1);
    expect(events.filter((e) => e.kind === 'catch')).toHaveLength(1);
    expect(failures).toHaveLength(0);
  });

  it('without allowFailures the first failure cancels the rest; a cancelled batch skips its jobs', async () => {
    const ran: number[] = [];
    const item = defineJob({
      name: 'item2',
      payload: z.object({ i: z.number() }),
      tries: 1,
      handle: async (p) => {
        ran.push(p.i);
        if (p.i === 0) throw new Error('first one fails');
        await sleep(20);
      },
    });
    const { system, events } = await setup([item], {
      callbacks: ['c.then', 'c.finally'],
      worker: { queues: ['default', 'high'], concurrency: 1 },
    });
    const batch = await system.batch(
      Array.from({ length: 10 }, (_, i) => ({ job: item, payload: { i } })),
      { then: 'c.then', finally: 'c.finally' },
    );
    await until(() => events.some((e) => e.kind === 'finally'), 'finally');
    const info = (await system.getBatch(batch.id))!;
    expect(info.cancelledAt).not.toBeNull();
    expect(ran.length).toBeLessThan(10);
    expect(events.map((e) => e.kind)).toEqual(['finally']);
  });
});

describe('queues and workers', () => {
  it('a paused queue takes no jobs until it continues', async () => {
    let ran = 0;
    const job = defineJob({ name: 'pausable', payload: z.object({}), handle: () => void (ran += 1) });
    const { system } = await setup([job]);
    await system.pause('default');
    await sleep(1_200);
    await system.dispatch(job, {});
    await sleep(800);
    expect(ran).toBe(0);
    expect((await system.counts()).find((c) => c.queue === 'default')).toMatchObject({
      waiting: 1,
      paused: true,
    });
    await system.resume('default');
    await until(() => ran === 1, 'the job after resume');
  });

  it('one leader among workers; workers report their queues and concurrency', async () => {
    const { system, worker } = await setup([], { worker: { queues: ['default'], concurrency: 3 } });
    const second = new Worker(system, { queues: ['low'], concurrency: 2 });
    await second.start();
    cleanups.push(() => second.stop(500));
    expect([worker!.isLeader(), second.isLeader()].filter(Boolean)).toHaveLength(1);
    const workers = await until(async () => {
      const w = await system.workers();
      return w.length === 2 ? w : null;
    }, 'two workers');
    const queues = workers
      .flatMap((w) => w.supervisors.flatMap((s) => s.queues))
      .map((q) => [q.queue, q.concurrency]);
    expect(queues.sort()).toEqual([
      ['default', 3],
      ['low', 2],
    ]);
    const leader = worker!.isLeader() ? worker! : second;
    const follower = leader === worker ? second : worker!;
    await leader.stop(500);
    await until(() => follower.isLeader(), 'the follower taking over', 10_000);
  });
});

describe('stalls', () => {
  it('a job stalled more than maxStalls times fails instead of looping', async () => {
    const job = defineJob({ name: 'stuck', payload: z.object({}), handle: () => {} });
    const { system, failures } = await setup([job], {
      worker: false,
      settings: { stall: { intervalMs: 1_000, maxStalls: 1 } },
    });
    const checker = new Worker(system, { queues: ['low'], concurrency: 1 });
    await checker.start();
    cleanups.push(() => checker.stop(500));
    const r = await system.dispatch(job, {});
    const k = (key: string) => system.keys.beeKey('default', key);
    const redis = system.redis;
    // A worker takes the job and dies without a trace: it sits in `active`, and nobody renews it.
    const takeAndDie = async () => {
      expect(await redis.rpoplpush(k('waiting'), k('active'))).toBe(r.id);
    };
    const check = async () => {
      await redis.del(k('stallBlock'));
      return checker.checkStalls();
    };
    await takeAndDie();
    expect(await check()).toEqual({ requeued: [], failed: [] }); // marked as stalling
    expect((await check()).requeued).toEqual([r.id]); // first stall: back on the queue
    await takeAndDie();
    await check();
    expect((await check()).failed).toEqual([r.id]); // second stall: over the limit
    expect(await redis.llen(k('waiting'))).toBe(0);
    expect(await redis.hexists(k('jobs'), r.id!)).toBe(0);
    expect((await system.index.get(r.id!))?.status).toBe('failed');
    expect(failures.map((f) => f.error)).toEqual([expect.stringContaining('stalled more than 1 times')]);
  });
});

describe('overlap locks of stalled jobs', () => {
  it('a job failed for stalling frees the overlap lock its dead attempt held', async () => {
    const job = defineJob({
      name: 'stuck-exclusive',
      payload: z.object({ account: z.string() }),
      withoutOverlapping: { key: (p) => p.account },
      handle: () => {},
    });
    const { system } = await setup([job], {
      worker: false,
      settings: { stall: { intervalMs: 1_000, maxStalls: 0 } },
    });
    const checker = new Worker(system, { queues: ['low'], concurrency: 1 });
    await checker.start();
    cleanups.push(() => checker.stop(500));
    const r = await system.dispatch(job, { account: 'acme' });
    const k = (key: string) => system.keys.beeKey('default', key);
    const redis = system.redis;
    // A worker takes the job, starts its first attempt (which takes the lock) and dies without a trace.
    expect(await redis.rpoplpush(k('waiting'), k('active'))).toBe(r.id);
    const lock = system.keys.overlap(job.name, 'acme');
    await redis.set(lock, overlapHolder(r.id!, 1), 'PX', 60_000);
    const check = async () => {
      await redis.del(k('stallBlock'));
      return checker.checkStalls();
    };
    await check(); // marked as stalling
    expect((await check()).failed).toEqual([r.id]);
    expect(await redis.exists(lock)).toBe(0);
  });
});

describe('scheduler', () => {
  it('runs each tick once across two workers (only the leader runs, and each tick is claimed)', async () => {
    const ticks: number[] = [];
    const task = {
      name: 'every-second',
      cron: '* * * * * *',
      run: () => void ticks.push(Math.floor(Date.now() / 1000)),
    };
    const { system } = await setup([], { worker: false });
    const a = new Worker(system, { queues: ['low'], concurrency: 1, tasks: [task] });
    const b = new Worker(system, { queues: ['low'], concurrency: 1, tasks: [task] });
    await a.start();
    await b.start();
    cleanups.push(
      () => a.stop(500),
      () => b.stop(500),
    );
    await until(() => ticks.length >= 3, 'three ticks', 10_000);
    expect(new Set(ticks).size).toBe(ticks.length);
  });
});
