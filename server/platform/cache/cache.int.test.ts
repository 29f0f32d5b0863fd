import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deleteKeys } from '../../test/harness.ts';
import { TEST_REDIS_URL } from '../../test/env.ts';
import { openCache, type CacheFixture } from './testing/fixture.ts';
import type { CacheTuning } from './create.ts';

const prefix = `keel:test:${randomBytes(4).toString('hex')}:`;
const open: CacheFixture[] = [];
let redis: Redis;

async function process_(tuning: CacheTuning = {}): Promise<CacheFixture> {
  const f = await openCache(TEST_REDIS_URL, prefix, tuning);
  open.push(f);
  return f;
}

const key = () => `k-${randomBytes(4).toString('hex')}`;
const orgA = '6f1c1f6e-0000-4000-8000-00000000000a';
const orgB = '6f1c1f6e-0000-4000-8000-00000000000b';

beforeAll(() => {
  redis = new Redis(TEST_REDIS_URL);
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((f) => f.close()));
});
afterAll(async () => {
  await deleteKeys(TEST_REDIS_URL, prefix);
  redis.disconnect();
});

describe('remember', () => {
  it('answers from L1, then L2 in another process, and runs the factory once', async () => {
    const p1 = await process_();
    const p2 = await process_();
    const k = key();
    let runs = 0;
    const factory = () => {
      runs++;
      return { n: 42, at: new Date('2026-01-01T00:00:00Z') };
    };
    expect(await p1.cache.global.remember(k, factory, { ttl: 60 })).toEqual({
      n: 42,
      at: new Date('2026-01-01T00:00:00Z'),
    });
    await p1.cache.global.remember(k, factory, { ttl: 60 });
    const fromL2 = await p2.cache.global.remember(k, factory, { ttl: 60 });
    expect(fromL2.at).toBeInstanceOf(Date);
    expect(runs).toBe(1);
    expect(p1.cache.stats().l1.hits).toBe(1);
    expect(p2.cache.stats().l2.hits).toBe(1);
    expect(p1.cache.stats().l2.misses).toBe(1);
  });

  it('200 concurrent calls on a cold key in one process run the factory once', async () => {
    const { cache } = await process_();
    const k = key();
    let runs = 0;
    const values = await Promise.all(
      Array.from({ length: 200 }, () =>
        cache.global.remember(
          k,
          async () => {
            runs++;
            await sleep(50);
            return 'v';
          },
          { ttl: 60 },
        ),
      ),
    );
    expect(runs).toBe(1);
    expect(new Set(values)).toEqual(new Set(['v']));
  });

  it('keeps organizations apart: the same key under two organizations never returns the other value', async () => {
    const p1 = await process_();
    const p2 = await process_();
    const k = key();
    await p1.cache.tenant(orgA).remember(k, () => 'secret of A', { ttl: 60, tags: ['t'] });
    expect(await p2.cache.tenant(orgB).remember(k, () => 'value of B', { ttl: 60, tags: ['t'] })).toBe(
      'value of B',
    );
    expect(await p1.cache.tenant(orgB).remember(k, () => 'not called', { ttl: 60 })).toBe('value of B');
    expect(await p2.cache.tenant(orgA).get(k)).toBe('secret of A');
    // A tag flush in one organization leaves the other's entries alone.
    await p1.cache.tenant(orgA).flushTags('t');
    expect(await p2.cache.tenant(orgA).get(k)).toBeUndefined();
    expect(await p2.cache.tenant(orgB).get(k)).toBe('value of B');
    expect(() => p1.cache.tenant('a:b')).toThrow();
  });

  it('writes only under the key prefix and the environment', async () => {
    const { cache } = await process_();
    const k = key();
    await cache.tenant(orgA).remember(k, () => 1, { ttl: 60, tags: ['members'] });
    const keys = await redis.keys(`*${k}*`);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.every((x) => x.startsWith(`${prefix}cache:test:`))).toBe(true);
  });

  it('serves the stale value when the factory fails after expiry, and throws when there is none', async () => {
    const { cache } = await process_();
    const k = key();
    await cache.global.remember(k, () => 'old', { ttl: 0.05, grace: 60 });
    await sleep(80);
    expect(
      await cache.global.remember(
        k,
        () => {
          throw new Error('database down');
        },
        { ttl: 60 },
      ),
    ).toBe('old');
    expect(cache.stats().staleServed).toBe(1);
    await expect(
      cache.global.remember(
        key(),
        () => {
          throw new Error('database down');
        },
        { ttl: 60 },
      ),
    ).rejects.toThrow('database down');
  });
});

describe('tags', () => {
  it('a flush drops the entry from both layers in every process before it returns', async () => {
    const p1 = await process_();
    const p2 = await process_();
    const k = key();
    await p1.cache.global.remember(k, () => 'v1', { ttl: 60, tags: ['members'] });
    expect(await p2.cache.global.remember(k, () => 'unused', { ttl: 60, tags: ['members'] })).toBe('v1');
    await p1.cache.global.flushTags('members');
    expect(await p2.cache.global.remember(k, () => 'v2', { ttl: 60, tags: ['members'] })).toBe('v2');
    expect(await p1.cache.global.remember(k, () => 'v3', { ttl: 60, tags: ['members'] })).toBe('v2');
    expect(p1.cache.stats().invalidations.unacknowledged).toBe(0);
    expect(p2.cache.stats().invalidations.received).toBe(1);
  });

  it('a value computed before a flush is not written back after it', async () => {
    const p1 = await process_();
    const p2 = await process_();
    const k = key();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = p1.cache.global.remember(
      k,
      async () => {
        await gate;
        return 'computed before the write';
      },
      { ttl: 60, tags: ['doc'] },
    );
    await sleep(30);
    await p2.cache.global.flushTags('doc');
    release();
    expect(await slow).toBe('computed before the write');
    // Neither layer kept it: the next read recomputes.
    expect(await p2.cache.global.get(k)).toBeUndefined();
    expect(await p1.cache.global.remember(k, () => 'fresh', { ttl: 60, tags: ['doc'] })).toBe('fresh');
  });

  it('set and delete reach other processes too', async () => {
    const p1 = await process_();
    const p2 = await process_();
    const k = key();
    await p1.cache.global.set(k, 'a', { ttl: 60 });
    expect(await p2.cache.global.get(k)).toBe('a');
    await p1.cache.global.set(k, 'b', { ttl: 60 });
    expect(await p2.cache.global.get(k)).toBe('b');
    await p1.cache.global.delete(k);
    expect(await p2.cache.global.get(k)).toBeUndefined();
  });
});

describe('stampede across processes', () => {
  it('a waiter that outlives the bounded wait runs the factory itself instead of failing', async () => {
    const p1 = await process_();
    const p2 = await process_({ lockWaitMs: 100 });
    const k = key();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const holder = p1.cache.global.remember(
      k,
      async () => {
        await gate;
        return 'holder';
      },
      { ttl: 60 },
    );
    await sleep(30);
    expect(await p2.cache.global.remember(k, () => 'fallback', { ttl: 60 })).toBe('fallback');
    expect(p2.cache.stats().lockFallbacks).toBe(1);
    release();
    expect(await holder).toBe('holder');
  });

  it('a waiter takes over when the holder gives up without a value', async () => {
    const p1 = await process_();
    const p2 = await process_();
    const k = key();
    const failing = p1.cache.global.remember(
      k,
      async () => {
        await sleep(60);
        throw new Error('boom');
      },
      { ttl: 60 },
    );
    await sleep(20);
    const waiter = p2.cache.global.remember(k, () => 'second', { ttl: 60 });
    await expect(failing).rejects.toThrow('boom');
    expect(await waiter).toBe('second');
    expect(p2.cache.stats().lockWaits).toBe(1);
  });
});

describe('early refresh (XFetch)', () => {
  it('refreshes a value near expiry in the background while returning the current one', async () => {
    // random() → 1e-9 makes −ln(random) ≈ 20.7: with a 40 ms factory the refresh window is ~830 ms before expiry.
    const { cache } = await process_({ random: () => 1e-9 });
    const k = key();
    let n = 0;
    const factory = async () => {
      await sleep(40);
      return ++n;
    };
    expect(await cache.global.remember(k, factory, { ttl: 0.5 })).toBe(1);
    expect(await cache.global.remember(k, factory, { ttl: 0.5 })).toBe(1);
    await sleep(100);
    expect(cache.stats().earlyRefreshes).toBe(1);
    expect(await cache.global.remember(k, factory, { ttl: 0.5 })).toBe(2);
  });

  it('does not refresh early when the draw says the value is far from expiry', async () => {
    const { cache } = await process_({ random: () => 1 });
    const k = key();
    let n = 0;
    const factory = async () => {
      await sleep(20);
      return ++n;
    };
    await cache.global.remember(k, factory, { ttl: 60 });
    for (let i = 0; i < 50; i++) await cache.global.remember(k, factory, { ttl: 60 });
    expect(cache.stats().earlyRefreshes).toBe(0);
    expect(n).toBe(1);
  });
});

describe('clear', () => {
  it('removes cache entries only: other key spaces under the prefix stay', async () => {
    const { cache, hub } = await process_();
    const k = key();
    await cache.global.remember(k, () => 1, { ttl: 60 });
    const limitKey = `${hub.keyspace('limits')}probe`;
    const sessionKey = `${hub.keyspace('sessions')}probe`;
    await redis.set(limitKey, '3');
    await redis.set(sessionKey, 'user');
    await cache.clear();
    expect(await cache.global.get(k)).toBeUndefined();
    expect(await redis.get(limitKey)).toBe('3');
    expect(await redis.get(sessionKey)).toBe('user');
  });
});
