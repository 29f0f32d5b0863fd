import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import type { Envelope } from './envelope.ts';
import { JobRegistry } from './registry.ts';
import { queueSettingsFor } from './settings.ts';
import { QueueSystem } from './system.ts';

// Per-id tags (`export:<id>`, `import:<id>`) added one member to q:tags per export for ever; the trim now forgets a
// tag once its list is empty, and a tag used again is listed again.

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(() => env.close());

const envelope = (tag: string, at: number): Envelope => ({
  v: 1,
  name: 'test.tagged',
  payload: {},
  trace: '00-00000000000000000000000000000001-0000000000000001-01',
  tags: [tag],
  at,
  qa: at,
  attempts: 1,
  exceptions: 0,
});

describe('the set of tags stays bounded', () => {
  it('a tag whose entries are past retention is forgotten; one in use stays and is listed again when reused', async () => {
    const system = new QueueSystem({
      config: { ...env.config, keyPrefix: `${env.config.keyPrefix}tags:` },
      redis: env.deps.redis.get('queue'),
      em: env.deps.em,
      logger: env.deps.logger,
      registry: new JobRegistry(),
      settings: queueSettingsFor('test'),
    });
    const old = Date.now() - 8 * 24 * 3_600_000;
    const outcome = (at: number) => ({
      status: 'completed' as const,
      startedAt: at,
      finishedAt: at,
      worker: 'w',
    });
    await system.index.finished('a', 'default', envelope('export:a', old), outcome(old));
    await system.index.finished('b', 'default', envelope('export:b', Date.now()), outcome(Date.now()));
    const tags = () => system.redis.smembers(system.keys.tags());
    expect((await tags()).sort()).toEqual(['export:a', 'export:b']);
    await system.index.trim();
    expect(await tags()).toEqual(['export:b']);
    await system.index.finished('a2', 'default', envelope('export:a', Date.now()), outcome(Date.now()));
    expect((await tags()).sort()).toEqual(['export:a', 'export:b']);
    await system.close();
  });
});
