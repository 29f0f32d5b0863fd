import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_REDIS_URL } from '../../test/env.ts';
import { deleteKeys } from '../../test/harness.ts';
import { createRedisHub, type RedisHub } from '../redis/redis.ts';
import { compareIds, EventLog, SubscriberOverflowError, type LogItem, type Retention } from './event-log.ts';
import { PubSub } from './pubsub.ts';

const prefix = `keel:test:${randomBytes(4).toString('hex')}:`;
const retention: Retention = { maxLen: 10_000, maxAgeMs: 60_000 };
let hub: RedisHub;
let pubsub: PubSub;
let log: EventLog;

beforeAll(() => {
  hub = createRedisHub(TEST_REDIS_URL, prefix);
  pubsub = new PubSub(hub.get('publish'), hub.get('pubsub'), hub.keyspace('pubsub'));
  log = new EventLog(hub.get('publish'), pubsub, `${hub.keyspace('pubsub')}log:`);
});
afterAll(async () => {
  await hub.close();
  await deleteKeys(TEST_REDIS_URL, prefix);
});

const channel = () => `test:${randomBytes(4).toString('hex')}`;

/** Collects `n` items of a subscription (then stops it). */
async function take<T>(
  items: AsyncGenerator<LogItem<T>>,
  n: number,
  onStarted?: () => Promise<void>,
): Promise<LogItem<T>[]> {
  const out: LogItem<T>[] = [];
  const first = items.next();
  await onStarted?.();
  let r = await first;
  while (!r.done) {
    out.push(r.value);
    if (out.length >= n) break;
    r = await items.next();
  }
  await items.return(undefined);
  return out;
}

const seqOf = (items: LogItem<{ seq: number }>[]) =>
  items.map((i) => (i.kind === 'event' ? i.data.seq : `${i.kind}`));

describe('EventLog', () => {
  it('replays exactly what came after the last id, in order, then continues live without repeats', async () => {
    const ch = channel();
    const ids: string[] = [];
    for (let seq = 0; seq < 30; seq++) ids.push(await log.publish(ch, { seq }, retention));
    const ac = new AbortController();
    const items = log.subscribe<{ seq: number }>(ch, { lastEventId: ids[9], signal: ac.signal, retention });
    const got = await take(items, 25, async () => {
      // Published while the backfill may still be running: must appear once, after the backfilled ones.
      for (let seq = 30; seq < 35; seq++) await log.publish(ch, { seq }, retention);
    });
    expect(seqOf(got)).toEqual([...Array(25).keys()].map((i) => i + 10));
    const gotIds = got.map((g) => g.id);
    expect([...gotIds].sort(compareIds)).toEqual(gotIds);
  });

  it('loses and repeats nothing when events are published concurrently with the backfill', async () => {
    const ch = channel();
    const first = await log.publish(ch, { seq: 0 }, retention);
    for (let seq = 1; seq < 600; seq++) await log.publish(ch, { seq }, retention);
    const ac = new AbortController();
    const items = log.subscribe<{ seq: number }>(ch, { lastEventId: first, signal: ac.signal, retention });
    const got = await take(items, 999, async () => {
      await Promise.all([...Array(400).keys()].map((i) => log.publish(ch, { seq: 600 + i }, retention)));
    });
    const seqs = seqOf(got) as number[];
    expect(seqs.slice(0, 599)).toEqual([...Array(599).keys()].map((i) => i + 1));
    // Concurrent publishes are stored in some order; whatever it is, each arrives once.
    expect(new Set(seqs).size).toBe(999);
    expect([...seqs].sort((a, b) => a - b)).toEqual([...Array(999).keys()].map((i) => i + 1));
  });

  it('without a last id starts live at once, and with an unknown-but-recent id replays nothing', async () => {
    const ch = channel();
    await log.publish(ch, { seq: 0 }, retention);
    const ac = new AbortController();
    const live = log.subscribe<{ seq: number }>(ch, { signal: ac.signal, retention });
    const got = await take(live, 2, async () => {
      await log.publish(ch, { seq: 1 }, retention);
      await log.publish(ch, { seq: 2 }, retention);
    });
    expect(seqOf(got)).toEqual([1, 2]);

    const fresh = channel();
    const recent = `${Date.now() - 1000}-0`;
    const items = log.subscribe<{ seq: number }>(fresh, {
      lastEventId: recent,
      signal: ac.signal,
      retention,
    });
    const none = await take(items, 1, async () => void (await log.publish(fresh, { seq: 7 }, retention)));
    expect(seqOf(none)).toEqual([7]);
  });

  it('reports a gap when the last id fell out of the retained log', async () => {
    const ch = channel();
    const short: Retention = { maxLen: 5, maxAgeMs: 60_000 };
    const ids: string[] = [];
    for (let seq = 0; seq < 20; seq++) ids.push(await log.publish(ch, { seq }, short));
    expect(await hub.get('publish').xlen(log.key(ch))).toBe(5);
    const ac = new AbortController();
    const gone = log.subscribe<{ seq: number }>(ch, {
      lastEventId: ids[2],
      signal: ac.signal,
      retention: short,
    });
    // The client refetches its state, which includes everything up to the newest id: it continues from there.
    expect(await take(gone, 1)).toEqual([{ kind: 'gap', id: ids[19] }]);
    // The last id just before the retained ones is no gap: everything after it is still there.
    const kept = log.subscribe<{ seq: number }>(ch, {
      lastEventId: ids[14],
      signal: ac.signal,
      retention: short,
    });
    expect(seqOf(await take(kept, 5))).toEqual([15, 16, 17, 18, 19]);
  });

  it('reports a gap for an id older than the retention window of a channel that has expired', async () => {
    const ac = new AbortController();
    const old = `${Date.now() - 2 * retention.maxAgeMs}-0`;
    const items = log.subscribe<{ seq: number }>(channel(), {
      lastEventId: old,
      signal: ac.signal,
      retention,
    });
    const got = await take(items, 1);
    expect(got[0]?.kind).toBe('gap');
  });

  it('keeps the log bounded by length and age', async () => {
    const ch = channel();
    for (let seq = 0; seq < 400; seq++) await log.publish(ch, { seq }, { maxLen: 100, maxAgeMs: 60_000 });
    const redis = hub.get('publish');
    // MAXLEN ~ trims whole nodes: the length stays within a node's size of the bound.
    expect(await redis.xlen(log.key(ch))).toBeLessThanOrEqual(200);
    const ttl = await redis.pttl(log.key(ch));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('throws SubscriberOverflowError when the consumer falls too far behind', async () => {
    const ch = channel();
    const ac = new AbortController();
    const items = log.subscribe<{ seq: number }>(ch, { signal: ac.signal, retention, maxQueued: 5 });
    const first = items.next();
    await log.publish(ch, { seq: 0 }, retention);
    expect((await first).value).toMatchObject({ kind: 'event', data: { seq: 0 } });
    for (let seq = 1; seq <= 20; seq++) await log.publish(ch, { seq }, retention);
    await new Promise((r) => setTimeout(r, 50));
    const drained: unknown[] = [];
    await expect(
      (async () => {
        for (let r = await items.next(); !r.done; r = await items.next()) drained.push(r.value);
      })(),
    ).rejects.toBeInstanceOf(SubscriberOverflowError);
    expect(drained.length).toBeLessThanOrEqual(5);
  });

  it('coalesces a slow consumer to the newest message per key', async () => {
    const ch = channel();
    const ac = new AbortController();
    const items = log.subscribe<{ job: string; n: number }>(ch, {
      signal: ac.signal,
      retention,
      coalesceKey: (d) => d.job,
    });
    const first = items.next();
    await log.publish(ch, { job: 'a', n: 0 }, retention);
    await first;
    for (let n = 1; n <= 50; n++) await log.publish(ch, { job: n % 2 ? 'a' : 'b', n }, retention);
    await new Promise((r) => setTimeout(r, 50));
    const got = await take(items, 2);
    // The newest of each key, in publish order.
    expect(got.map((g) => (g.kind === 'event' ? g.data : null))).toEqual([
      { job: 'a', n: 49 },
      { job: 'b', n: 50 },
    ]);
  });

  it('backfills what was published while the pub/sub connection was down', async () => {
    const ch = channel();
    const ac = new AbortController();
    const items = log.subscribe<{ seq: number }>(ch, { signal: ac.signal, retention });
    const got = await take(items, 6, async () => {
      await log.publish(ch, { seq: 0 }, retention);
      const sub = hub.get('pubsub');
      const back = new Promise((r) => sub.once('ready', r));
      sub.disconnect(true);
      // Published through the other connection while the subscriber is away: lost to pub/sub, kept by the log.
      for (let seq = 1; seq <= 3; seq++) await log.publish(ch, { seq }, retention);
      await back;
      await new Promise((r) => setTimeout(r, 50));
      await log.publish(ch, { seq: 4 }, retention);
      await log.publish(ch, { seq: 5 }, retention);
    });
    expect(seqOf(got)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('ends quietly when the signal aborts', async () => {
    const ac = new AbortController();
    const items = log.subscribe<{ seq: number }>(channel(), { signal: ac.signal, retention });
    const next = items.next();
    await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    expect(await next).toEqual({ done: true, value: undefined });
  });
});
