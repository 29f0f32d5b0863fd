import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_REDIS_URL } from '../../test/env.ts';
import { deleteKeys } from '../../test/harness.ts';
import { SessionStore } from './session.store.ts';

// The per-user index (`<prefix>user:<id>`) exists for "sign out everywhere"; it must hold only live sessions, or it
// grows by one entry per sign-in for as long as the user keeps signing in (the soak test saw it).
describe('SessionStore user index', () => {
  const prefix = `keel:test:${randomBytes(4).toString('hex')}:sess:`;
  let redis: Redis;
  let store: SessionStore;
  const index = (userId: string) => redis.smembers(`${prefix}user:${userId}`);

  beforeAll(() => {
    redis = new Redis(TEST_REDIS_URL);
    store = new SessionStore(redis, prefix, 3600);
  });
  afterAll(async () => {
    redis.disconnect();
    await deleteKeys(TEST_REDIS_URL, prefix);
  });

  it('sign-out takes the session out of its user index', async () => {
    const userId = randomUUID();
    const a = await store.create(userId);
    const b = await store.create(userId);
    expect(await index(userId)).toHaveLength(2);
    await store.destroy(a);
    expect(await store.get(a)).toBeNull();
    expect(await store.get(b)).toMatchObject({ userId });
    expect(await index(userId)).toHaveLength(1);
  });

  it('a sign-in drops index entries of sessions that expired on their own', async () => {
    const userId = randomUUID();
    const old = await store.create(userId);
    // Expire the first session the way Redis would at its TTL.
    await redis.del((await index(userId))[0]!);
    expect(await store.get(old)).toBeNull();
    await store.create(userId);
    expect(await index(userId)).toHaveLength(1);
  });

  it('destroying an unknown or already-ended session is harmless', async () => {
    await expect(store.destroy('A'.repeat(43))).resolves.toBeUndefined();
  });
});
