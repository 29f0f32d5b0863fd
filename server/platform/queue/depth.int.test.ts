import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { runHealthChecks } from '../health/health.ts';
import { defineJob } from './definition.ts';
import { queueDepth, queueDepthCheck } from './depth.ts';
import { JobRegistry } from './registry.ts';
import { queueSettingsFor } from './settings.ts';
import { QueueSystem } from './system.ts';
import { Worker } from './worker.ts';
import { until } from '../../test/until.ts';

let env: TestEnv;
let system: QueueSystem;
const cleanups: (() => Promise<void>)[] = [];

const ok = defineJob({ name: 'depth.ok', queue: 'low', payload: z.object({}), handle: () => {} });
const broken = defineJob({
  name: 'depth.broken',
  queue: 'low',
  payload: z.object({}),
  tries: 1,
  handle: () => {
    throw new Error('broken');
  },
});

beforeAll(async () => {
  env = await createTestEnv();
  system = new QueueSystem({
    config: { ...env.config, keyPrefix: `${env.config.keyPrefix}depth:` },
    redis: env.deps.redis.get('queue'),
    em: env.deps.em,
    logger: env.deps.logger,
    registry: new JobRegistry().register(ok).register(broken),
    settings: queueSettingsFor('test'),
  });
});
afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!();
  await system.close();
  await env.close();
});

describe('queue depth, readiness and console metrics', () => {
  it('counts waiting jobs of every queue and the oldest one’s wait; readiness warns and fails at thresholds', async () => {
    expect(await queueDepth(system)).toEqual({ waiting: 0, waitMaxS: 0 });
    await system.dispatch(ok, {}, { organizationId: null });
    await system.dispatch(ok, {}, { organizationId: null, queue: 'high' });
    await system.dispatch(ok, {}, { organizationId: null, delayMs: 60_000 }); // delayed, not waiting
    const d = await queueDepth(system, Date.now() + 90_000);
    expect(d).toEqual({ waiting: 2, waitMaxS: 90 });

    const report = (warn: number, fail: number) =>
      runHealthChecks([queueDepthCheck(() => system, { warn, fail })], { version: 't' });
    expect((await report(5_000, 10_000)).checks['queue:depth']?.[0]).toMatchObject({
      status: 'pass',
      observedValue: 2,
      observedUnit: 'jobs',
    });
    expect((await report(2, 10)).status).toBe('warn');
    expect((await report(1, 2)).status).toBe('fail');
    // The app's readiness warns at the alert's warning and never fails on depth: a deep queue must not take every
    // API node out of the load balancer.
    expect(env.deps.healthChecks.find((c) => c.key === 'queue:depth')?.thresholds).toEqual({
      warn: 5_000,
      fail: Number.POSITIVE_INFINITY,
    });
  });

  it('a worker counts processed and failed jobs and times them in the console; the leader sets the gauges', async () => {
    const store = env.deps.observability.console;
    const from = Date.now() - 60_000;
    const worker = new Worker(system, { queues: ['low', 'high'], concurrency: 2, observer: store });
    await worker.start();
    cleanups.push(() => worker.stop(1_000));
    await until(() => worker.isLeader(), 'leadership');
    // Two jobs on a queue this worker does not work: they wait.
    await system.dispatch(ok, {}, { organizationId: null, queue: 'default' });
    await system.dispatch(ok, {}, { organizationId: null, queue: 'default' });
    await worker.reportDepth();
    await system.dispatch(ok, {}, { organizationId: null });
    const failed = await system.dispatch(broken, {}, { organizationId: null });
    await until(async () => (await system.index.get(failed.id!))?.status === 'failed', 'the failure');
    await until(() => worker.runner.processed >= 3, 'the ok jobs');
    await store.flush();
    const { counters, buckets } = await store.window(from, Date.now() + 60_000);
    expect(counters['jobs.processed']).toBe(worker.runner.processed);
    expect(counters['jobs.failed']).toBe(1);
    // One observation per attempt that ran: the successes and the failed one.
    const total = (b: number[] | undefined) => (b ?? []).reduce((a, n) => a + n, 0);
    expect(total(buckets['jobs.runtime'])).toBe(worker.runner.processed + 1);
    expect(total(buckets['jobs.wait'])).toBe(worker.runner.processed + 1);
    const gauges = await store.latestGauges();
    expect(gauges['queue.depth']).toBe(2);
    expect(gauges['queue.wait_max_s']).toBeGreaterThanOrEqual(0);
  });
});
