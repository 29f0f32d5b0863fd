import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { defineCallback, jobDefiner } from './definition.ts';
import { JobRegistry } from './registry.ts';
import { mergeSettings, queueSettingsFor } from './settings.ts';
import { QueueSystem } from './system.ts';
import { Worker } from './worker.ts';
import { until } from '../../test/until.ts';

// Handlers are module-level constants: what they need of the process reaches them through their context, as the
// composition root handed it to the queue system.

interface Services {
  label: string;
}
const defineServiceJob = jobDefiner<Services>();

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(() => env?.close());

describe('job services', () => {
  it('reach handlers, failed() hooks and callbacks as ctx.services', async () => {
    const seen: [string, Services][] = [];
    const ok = defineServiceJob({
      name: 'svc.ok',
      payload: z.object({}),
      handle: (_p, ctx) => void seen.push(['handle', ctx.services]),
    });
    const broken = defineServiceJob({
      name: 'svc.broken',
      payload: z.object({}),
      tries: 1,
      handle: () => {
        throw new Error('broken on purpose');
      },
      failed: (_p, _failure, ctx) => void seen.push(['failed', ctx.services]),
    });
    const done = defineCallback<Services>(
      'svc.done',
      (_event, ctx) => void seen.push(['callback', ctx.services]),
    );
    const services: Services = { label: 'the process services' };
    const system = new QueueSystem({
      config: { ...env.config, keyPrefix: `${env.config.keyPrefix}svc:` },
      redis: env.deps.redis.get('queue'),
      em: env.deps.em,
      logger: env.deps.logger,
      registry: new JobRegistry([ok, broken, done]),
      settings: mergeSettings(queueSettingsFor('test')),
      services,
    });
    const worker = new Worker(system, { queues: ['default', 'high'], concurrency: 2, leader: false });
    await worker.start();
    try {
      await system.batch(
        [
          { job: ok, payload: {} },
          { job: broken, payload: {} },
        ],
        { allowFailures: true, finally: 'svc.done', organizationId: null },
      );
      await until(() => seen.length === 3, 'handler, failed() hook and callback');
      expect(seen.map(([where]) => where).sort()).toEqual(['callback', 'failed', 'handle']);
      for (const [, got] of seen) expect(got).toBe(services);
    } finally {
      await worker.stop(1_000);
      await system.close();
    }
  });
});
