import BeeQueue from 'bee-queue';
import { createRequire } from 'node:module';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { until } from '../../test/until.ts';
import { defineJob } from './definition.ts';
import { newEnvelope, traceparentFor } from './envelope.ts';
import { JobRegistry } from './registry.ts';
import { queueSettingsFor } from './settings.ts';
import { beeRedisOptions } from './store.ts';
import { QueueSystem } from './system.ts';
import { Worker } from './worker.ts';

// ADR 0021: Keel owns its storage contract on bee-queue's keys (layout, job record, scripts) and runs without
// bee-queue. This proves the contract is still bee-queue's, through bee-queue's PUBLIC API only: re-run it on any
// bee-queue upgrade, and keep it passing when Keel's store changes.

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

const ran: { id: string; payload: unknown; org: string | undefined }[] = [];
const echo = defineJob({
  name: 'compat.echo',
  payload: z.object({ n: z.number() }),
  handle: (payload, ctx) => void ran.push({ id: ctx.id, payload, org: ctx.organizationId }),
});

/** A queue system of its own key prefix, and bee-queue's view of its `default` queue. */
function pair(): { system: QueueSystem; bee: BeeQueue } {
  n += 1;
  const system = new QueueSystem({
    config: { ...env.config, keyPrefix: `${env.config.keyPrefix}compat${n}:` },
    redis: env.deps.redis.get('queue'),
    em: env.deps.em,
    logger: env.deps.logger,
    registry: new JobRegistry().register(echo),
    settings: queueSettingsFor('test'),
  });
  const bee = new BeeQueue('default', {
    prefix: system.keys.bee,
    redis: beeRedisOptions(env.config.redisUrl!) as never,
    isWorker: false,
    getEvents: false,
    sendEvents: false,
    storeJobs: false,
  });
  cleanups.push(async () => {
    await bee.close(1_000);
    await system.close();
  });
  return { system, bee };
}

async function worker(system: QueueSystem): Promise<Worker> {
  const w = new Worker(system, { queues: ['default'], concurrency: 2 });
  await w.start();
  cleanups.push(() => w.stop(1_000));
  return w;
}

describe("Keel's queues read and written through bee-queue's public API", () => {
  it('is the bee-queue version this contract was written against', () => {
    const pkg: { version: string } = createRequire(import.meta.url)('bee-queue/package.json');
    expect(pkg.version).toBe('2.0.0');
  });

  it("a job saved by bee-queue's createJob().save() (now and delayed) is run by Keel's worker", async () => {
    const { system, bee } = pair();
    const envelope = (k: number) =>
      newEnvelope({
        name: echo.name,
        payload: { n: k },
        org: null,
        trace: traceparentFor(undefined),
        delayUntil: null,
      });
    const now = await bee.createJob(envelope(1)).setId('bee-now').save();
    const later = await bee
      .createJob(envelope(2))
      .setId('bee-later')
      .delayUntil(Date.now() + 300)
      .save();
    expect([now.id, later.id]).toEqual(['bee-now', 'bee-later']);
    await worker(system);
    await until(() => ran.filter((r) => r.id.startsWith('bee-')).length === 2, 'both jobs to run');
    expect(ran.filter((r) => r.id.startsWith('bee-')).sort((a, b) => a.id.localeCompare(b.id))).toEqual([
      { id: 'bee-later', payload: { n: 2 }, org: undefined },
      { id: 'bee-now', payload: { n: 1 }, org: undefined },
    ]);
    await until(
      async () => (await system.index.get('bee-later'))?.status === 'completed',
      'the index record',
    );
    // Finished and gone from the queue, as bee-queue's removeOnSuccess leaves it.
    expect(await bee.getJob('bee-now')).toBeNull();
  });

  it("a job Keel dispatched is read by bee-queue's getJob with the same data, options and status", async () => {
    const { system, bee } = pair();
    const before = Date.now();
    const { id } = (await system.dispatch(echo, { n: 7 }, { organizationId: null })) as { id: string };
    const delayed = (await system.dispatch(echo, { n: 8 }, { organizationId: null, delayMs: 60_000 })) as {
      id: string;
    };
    const job = await bee.getJob(id);
    const kept = await system.index.get(id);
    expect(job.id).toBe(id);
    expect(job.data).toEqual(kept!.envelope);
    expect(job.data).toMatchObject({ name: echo.name, payload: { n: 7 }, attempts: 0 });
    expect(job.status).toBe('created');
    expect(job.options).toEqual({ timestamp: expect.any(Number), stacktraces: [] });
    expect((job.options as { timestamp: number }).timestamp).toBeGreaterThanOrEqual(before);
    const later = await bee.getJob(delayed.id);
    const due = (later.options as { delay?: number }).delay;
    expect(due).toBe((later.data as { qa: number }).qa);
    expect(due).toBeGreaterThanOrEqual(before + 60_000);
  });

  it("bee-queue's checkHealth counts what Keel counts (waiting, active, delayed)", async () => {
    const { system, bee } = pair();
    for (let i = 0; i < 3; i++) await system.dispatch(echo, { n: i }, { organizationId: null });
    for (let i = 0; i < 2; i++)
      await system.dispatch(echo, { n: i }, { organizationId: null, delayMs: 60_000 });
    await bee.createJob({ from: 'bee' }).setId('bee-waiting').save();
    // One taken by a worker (the hand-off both sides make: the right end of waiting to active).
    const k = system.keys.store('default');
    expect(await system.redis.rpoplpush(k.waiting, k.active)).toBeTruthy();
    const health = await bee.checkHealth();
    const keel = (await system.counts()).find((c) => c.queue === 'default')!;
    expect({ waiting: health.waiting, active: health.active, delayed: health.delayed }).toEqual({
      waiting: keel.waiting,
      active: keel.active,
      delayed: keel.delayed,
    });
    expect(keel).toMatchObject({ waiting: 3, active: 1, delayed: 2 });
  });
});
