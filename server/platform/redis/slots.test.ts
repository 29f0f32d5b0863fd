import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { Cache } from '../cache/cache.ts';
import { createLogger } from '../logger/logger.ts';
import { PubSub } from '../pubsub/pubsub.ts';
import { Realtime } from '../realtime/realtime.ts';
import { hashTag, keySlot } from './slots.ts';

// Every Lua script and multi-key command Keel sends to a cluster-capable role must touch one slot (a cluster
// refuses it otherwise: CROSSSLOT), while tenants and channels spread over slots. This computes the slot of each
// key each one receives, for representative inputs. Nothing connects: the clients are lazy.

const lazy = () => new Redis({ lazyConnect: true });
const clients = [lazy(), lazy(), lazy()];
// Session writes: server/modules/auth/session.store.slots.test.ts.
afterAll(() => clients.forEach((c) => c.disconnect()));

const ORGS = Array.from({ length: 200 }, (_, i) => `0190${i.toString(16).padStart(4, '0')}-org-${i}`);
const distinct = (values: number[]) => new Set(values).size;

describe('Redis Cluster slots', () => {
  it('computes slots as Redis does (CRC16/XMODEM of the hash tag, else the key)', () => {
    expect(keySlot('123456789')).toBe(12739);
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'));
    expect(keySlot('foo{}{bar}')).toBe(keySlot('foo{}{bar}'.slice(0)));
    expect(keySlot('foo{}{bar}')).not.toBe(keySlot('bar'));
    expect(keySlot('foo{{bar}}zap')).toBe(keySlot('{bar'));
    expect(keySlot(`x${hashTag('a}b{c')}y`)).toBe(keySlot('a_b_c'));
  });

  it('keeps each cache namespace (value, lock, tags, tag versions) in one slot; tenants spread', () => {
    const cache = new Cache({ redis: clients[0]!, keyspace: 'keel:cache:', environment: 'production' });
    const perOrg = ORGS.map((org) => {
      const ns = `t:${org}:`;
      const keys = cache.redisKeys(ns, 'dashboard:summary', ['billing', 'plan', 'members:42']);
      const flushKeys = cache.redisKeys(ns, 'other', ['billing', 'members:42']);
      const slots = [keys.value, keys.lock, ...keys.tags, ...keys.versions, ...flushKeys.tags].map(keySlot);
      expect(distinct(slots)).toBe(1);
      return slots[0]!;
    });
    expect(distinct(perOrg)).toBeGreaterThan(150);
    const global = cache.redisKeys('g:', 'plans', ['plans', 'flags']);
    expect(distinct([global.value, global.lock, ...global.tags, ...global.versions].map(keySlot))).toBe(1);
  });

  it('keeps a replay log, its live channel and a room presence (three keys and a channel) in one slot', () => {
    const pubsub = new PubSub(clients[1]!, clients[2]!, 'keel:ps:');
    const realtime = new Realtime(
      clients[1]!,
      pubsub,
      'keel:ps:',
      createLogger({ level: 'silent', pretty: false }),
    );
    const logSlots = ORGS.map((org) => {
      const channel = `activity:${org}`;
      const key = realtime.log.key(channel);
      expect(keySlot(realtime.log.redisChannel(channel))).toBe(keySlot(key));
      return keySlot(key);
    });
    expect(distinct(logSlots)).toBeGreaterThan(150);
    for (const room of ['doc:1', `${ORGS[0]}:doc:{odd}`, 'doc:ünïcode']) {
      const keys = realtime.presence.keys(room);
      const channel = realtime.log.redisChannel(realtime.presence.channel(room));
      expect(distinct([...keys, channel].map(keySlot))).toBe(1);
    }
  });
});
