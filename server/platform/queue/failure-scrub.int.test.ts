import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { defineJob } from './definition.ts';
import { JobRegistry } from './registry.ts';
import { queueSettingsFor } from './settings.ts';
import { QueueSystem, type FailedJobRecord } from './system.ts';
import { Worker } from './worker.ts';

// A job's error text goes to the job index and failed_jobs: it is scrubbed with the logs' scrubber first (a stack
// or message often carries a connection string or a token from the handler's context).

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(() => env.close());

const SECRET_URL = 'postgresql://keel:hunter2secret@db.internal:5432/keel';
const TOKEN_LINK = 'https://app.example/reset?token=abcdef0123456789abcdef';

describe('failed job errors are scrubbed', () => {
  it('in the index (retrying and failed records) and in the failed store', async () => {
    const failures: FailedJobRecord[] = [];
    const registry = new JobRegistry();
    registry.register(
      defineJob({
        name: 'test.leaky',
        queue: 'default',
        payload: z.object({}).strict(),
        tries: 2,
        backoff: 0,
        handle: async () => {
          throw new Error(`could not reach ${SECRET_URL} for ${TOKEN_LINK}`);
        },
      }),
    );
    const system = new QueueSystem({
      config: { ...env.config, keyPrefix: `${env.config.keyPrefix}scrub:` },
      redis: env.deps.redis.get('queue'),
      em: env.deps.em,
      logger: env.deps.logger,
      registry,
      settings: queueSettingsFor('test'),
      failedSink: { record: async (f) => void failures.push(f), forget: async () => undefined },
    });
    const worker = new Worker(system, { queues: ['default'], concurrency: 1, leader: false });
    await worker.start();
    try {
      const { id } = await system.dispatch('test.leaky', {}, { organizationId: null });
      for (let i = 0; i < 200 && !failures.length; i++) await new Promise((r) => setTimeout(r, 50));
      expect(failures).toHaveLength(1);
      const stored = [failures[0]!.error, (await system.index.get(String(id)))?.error ?? 'no index record'];
      for (const text of stored) {
        expect(text).toContain('could not reach');
        expect(text).not.toContain('hunter2secret');
        expect(text).not.toContain('abcdef0123456789abcdef');
      }
    } finally {
      await worker.stop(1_000);
      await system.close();
    }
  });
});
