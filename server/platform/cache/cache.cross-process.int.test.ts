import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_REDIS_URL } from '../../test/env.ts';
import { deleteKeys } from '../../test/harness.ts';
import { openCache, type CacheFixture } from './testing/fixture.ts';
import { spawnCacheChild, type CacheChild } from './testing/spawn.ts';

// Two real Node processes (this one and a tsx child) sharing Redis and the key prefix, as two API servers would.
const prefix = `keel:test:${randomBytes(4).toString('hex')}:`;
let here: CacheFixture;
let child: CacheChild;
let redis: Redis;

beforeAll(async () => {
  redis = new Redis(TEST_REDIS_URL);
  [here, child] = await Promise.all([
    openCache(TEST_REDIS_URL, prefix),
    spawnCacheChild(TEST_REDIS_URL, prefix),
  ]);
});
afterAll(async () => {
  await child?.close();
  await here?.close();
  await deleteKeys(TEST_REDIS_URL, prefix);
  redis.disconnect();
});

describe('two processes', () => {
  it('200 concurrent remember calls on a cold key run the factory exactly once', async () => {
    const key = `cold-${randomBytes(4).toString('hex')}`;
    const startAt = Date.now() + 300;
    let localRuns = 0;
    const childBurst = child.send<{ runs: number; distinct: string[] }>({
      op: 'burst',
      key,
      n: 100,
      delayMs: 200,
      startAt,
    });
    await sleep(startAt - Date.now());
    const local = await Promise.all(
      Array.from({ length: 100 }, () =>
        here.cache.global.remember(
          key,
          async () => {
            localRuns++;
            await redis.incr(`${prefix}test:runs:${key}`);
            await sleep(200);
            return { by: process.pid };
          },
          { ttl: 60 },
        ),
      ),
    );
    const remote = await childBurst;
    expect(Number(await redis.get(`${prefix}test:runs:${key}`))).toBe(1);
    expect(localRuns + remote.runs).toBe(1);
    // Every one of the 200 callers got the single computed value.
    const all = new Set([...local.map((v) => JSON.stringify(v)), ...remote.distinct]);
    expect(all.size).toBe(1);
  });

  it('a tag flush in one process makes the other serve the new value, not its stale L1 copy', async () => {
    const key = `tagged-${randomBytes(4).toString('hex')}`;
    await here.cache.global.remember(key, () => 'v1', { ttl: 60, tags: ['settings'] });
    // The child now holds v1 in its own memory.
    expect(await child.send({ op: 'remember', key, value: 'unused', tags: ['settings'] })).toEqual({
      value: 'v1',
      ran: false,
    });
    await here.cache.global.flushTags('settings');
    expect(await child.send({ op: 'remember', key, value: 'v2', tags: ['settings'] })).toEqual({
      value: 'v2',
      ran: true,
    });
    // And the other direction.
    await child.send({ op: 'flush', tags: ['settings'] });
    expect(await here.cache.global.remember(key, () => 'v3', { ttl: 60, tags: ['settings'] })).toBe('v3');
    expect(here.cache.stats().invalidations.unacknowledged).toBe(0);
  });
});
