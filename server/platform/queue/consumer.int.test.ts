import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { QueueConsumer } from './consumer.ts';
import { defineJob, type AnyJobDefinition } from './definition.ts';
import { JobRegistry } from './registry.ts';
import { mergeSettings, queueSettingsFor, type QueueSettings } from './settings.ts';
import { QueueSystem } from './system.ts';
import { Worker, type WorkerOptions } from './worker.ts';
import { until } from '../../test/until.ts';

// Keel's consumer of a queue (bee-queue's layout, store.ts): a job must never end up in `active` where neither a slot
// runs it nor the stall checker can reach it.

let env: TestEnv;
let n = 0;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  env = await createTestEnv();
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
afterAll(() => env.close());

function system(defs: AnyJobDefinition[], settings: Partial<QueueSettings> = {}): QueueSystem {
  n += 1;
  const registry = new JobRegistry();
  for (const d of defs) registry.register(d);
  const s = new QueueSystem({
    config: { ...env.config, keyPrefix: `${env.config.keyPrefix}bee${n}:` },
    redis: env.deps.redis.get('queue'),
    em: env.deps.em,
    logger: env.deps.logger,
    registry,
    settings: mergeSettings(queueSettingsFor('test'), settings),
  });
  cleanups.push(() => s.close());
  return s;
}

async function worker(s: QueueSystem, opts: WorkerOptions): Promise<Worker> {
  const w = new Worker(s, opts);
  await w.start();
  cleanups.push(() => w.stop(1_000));
  return w;
}

function counter(name: string) {
  const ran: string[] = [];
  const def = defineJob({
    name,
    payload: z.object({}),
    handle: (_p, ctx) => void ran.push(ctx.id),
  });
  return { def, ran };
}

describe('QueueConsumer', () => {
  it('a job whose attempt broke before its outcome was decided is requeued by the stall checker and runs', async () => {
    const { def, ran } = counter('broken-once');
    const s = system([def], { stall: { intervalMs: 400, maxStalls: 2 } });
    // No leader: the stall checks below are driven by the test, one at a time.
    const w = await worker(s, { queues: ['default'], concurrency: 1, leader: false });
    const execute = w.runner.execute.bind(w.runner);
    let broke = false;
    // A bug between the take and the runner's decision (the report: bee's own job loop calling a missing handler)
    // must not leave the job in `active` with its claim renewed forever, out of the stall checker's reach.
    w.runner.execute = (job, queue) => {
      if (broke) return execute(job, queue);
      broke = true;
      throw new TypeError('this.handler is not a function');
    };
    const { id } = (await s.dispatch(def, {})) as { id: string };
    await until(() => broke, 'the broken attempt');
    const k = (key: string) => s.keys.beeKey('default', key);
    expect(await s.redis.lrange(k('active'), 0, -1)).toEqual([id]);
    // Checks one stall interval apart, as the leader runs them: a claim still renewed (every half interval) clears
    // the job's stalling mark between two of them; an unrenewed one is requeued by the second.
    await until(async () => {
      await s.redis.del(k('stallBlock'));
      if ((await w.checkStalls()).requeued.includes(id)) return true;
      await new Promise((r) => setTimeout(r, 400));
      return false;
    }, 'the stall checker to requeue the job');
    await until(() => ran.length === 1, 'the requeued job to run');
    expect(ran).toEqual([id]);
    await until(async () => (await s.index.get(id))?.status === 'completed', 'the completed record');
    expect(await s.redis.llen(k('active'))).toBe(0);
  });

  it("a leader's stall checker returns an orphaned job in `active` to the queue, and a worker runs it", async () => {
    const { def, ran } = counter('orphaned');
    const s = system([def], { stall: { intervalMs: 300, maxStalls: 2 } });
    const { id } = (await s.dispatch(def, {})) as { id: string };
    const k = (key: string) => s.keys.beeKey('default', key);
    // Taken by a worker that died before running it.
    expect(await s.redis.rpoplpush(k('waiting'), k('active'))).toBe(id);
    await worker(s, { queues: ['default'], concurrency: 2 });
    await until(() => ran.length === 1, 'the orphaned job to run');
    expect(ran).toEqual([id]);
    await until(async () => (await s.redis.llen(k('active'))) === 0, 'active to empty');
    expect((await s.index.get(id))?.attempts).toBe(1);
  });

  it('an embedded worker (keel dev) ignores recycle limits; a standalone one asks to exit', async () => {
    const s = system([], { recycle: { memoryMb: 1, maxJobs: 0, maxTimeMs: 0 } });
    const exits: string[] = [];
    await worker(s, {
      queues: ['low'],
      concurrency: 1,
      leader: false,
      onExitRequest: (reason) => void exits.push(reason),
    });
    const embedded = await worker(s, {
      queues: ['low'],
      concurrency: 1,
      leader: false,
      embedded: true,
      onExitRequest: (reason) => void exits.push(`embedded: ${reason}`),
    });
    await until(() => exits.length > 0, 'the standalone worker to ask to exit');
    // Two more heartbeats of the embedded worker.
    const seen = async () => Number(await s.redis.zscore(s.keys.workersSeen(), embedded.id));
    const first = await seen();
    await until(async () => (await seen()) > first, 'a heartbeat');
    const second = await seen();
    await until(async () => (await seen()) > second, 'another heartbeat');
    expect(exits).toEqual(['memory above 1 MB']);
  });

  it('takes no job before start(), whatever concurrency or pause changes come first, then runs them all', async () => {
    const { def, ran } = counter('early');
    const s = system([def]);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(((await s.dispatch(def, {})) as { id: string }).id);
    const consumer = new QueueConsumer('default', s.redis, s.keys.store('default'), 1, s.logger, {
      stallIntervalMs: 1_000,
      delayedDebounceMs: 50,
    });
    cleanups.push(() => consumer.stop());
    consumer.setPaused(true);
    consumer.setConcurrency(20);
    consumer.setPaused(false);
    const k = (key: string) => s.keys.beeKey('default', key);
    await new Promise((r) => setTimeout(r, 50));
    expect(await s.redis.llen(k('active'))).toBe(0);
    expect(await s.redis.llen(k('waiting'))).toBe(5);
    const w = new Worker(s, { leader: false });
    await consumer.start((job) => w.runner.execute(job, 'default'));
    await expect(consumer.start(async () => ({ kind: 'completed' }))).rejects.toThrow('started twice');
    await until(() => ran.length === 5, 'all five jobs');
    expect(ran.sort()).toEqual(ids.sort());
    await until(async () => (await s.redis.llen(k('active'))) === 0, 'active to empty');
  });
});
