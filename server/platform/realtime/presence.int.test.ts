import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_REDIS_URL } from '../../test/env.ts';
import { deleteKeys } from '../../test/harness.ts';
import { EventLog, type LogItem } from '../pubsub/event-log.ts';
import { PubSub } from '../pubsub/pubsub.ts';
import { createRedisHub, type RedisHub } from '../redis/redis.ts';
import { PresenceStore, type PresenceEvent } from './presence.ts';

const prefix = `keel:test:${randomBytes(4).toString('hex')}:`;
let hub: RedisHub;
let log: EventLog;
let presence: PresenceStore;

beforeAll(() => {
  hub = createRedisHub(TEST_REDIS_URL, prefix);
  const pubsub = new PubSub(hub.get('publish'), hub.get('pubsub'), hub.keyspace('pubsub'));
  log = new EventLog(hub.get('publish'), pubsub, `${prefix}log:`);
  presence = new PresenceStore(hub.get('publish'), log, `${prefix}rt:`, { ttlMs: 300, heartbeatMs: 100 });
});
afterAll(async () => {
  presence.stop();
  await hub.close();
  await deleteKeys(TEST_REDIS_URL, prefix);
});

const room = () => `org:${randomBytes(4).toString('hex')}`;
const tab = (userId: string, state: 'viewing' | 'editing' = 'viewing') => ({
  tabId: `${userId}:${randomBytes(4).toString('hex')}`,
  userId,
  name: `User ${userId}`,
  state,
});

/** Everything the room's log holds, as presence events. */
async function events(r: string): Promise<PresenceEvent[]> {
  const out: PresenceEvent[] = [];
  for await (const item of log.since<PresenceEvent>(
    presence.channel(r),
    '0-0',
    presence.retention,
    undefined,
    false,
  )) {
    if ((item as LogItem<PresenceEvent>).kind === 'event') out.push((item as { data: PresenceEvent }).data);
  }
  return out;
}

describe('PresenceStore', () => {
  it('counts three tabs of one user as one entry: one join, and a leave only when the last tab goes', async () => {
    const r = room();
    const tabs = [tab('u1'), tab('u1'), tab('u1')];
    for (const t of tabs) await presence.join(r, t);
    const snap = await presence.snapshot(r);
    expect(snap.users).toEqual([{ userId: 'u1', name: 'User u1', state: 'viewing', tabs: 3 }]);
    await presence.leave(r, tabs[0]!.tabId);
    await presence.leave(r, tabs[1]!.tabId);
    expect((await events(r)).map((e) => e.type)).toEqual(['join']);
    await presence.leave(r, tabs[2]!.tabId);
    expect((await events(r)).map((e) => e.type)).toEqual(['join', 'leave']);
    expect((await presence.snapshot(r)).users).toEqual([]);
  });

  it('aggregates state: editing in any tab makes the user editing, and a change is announced once', async () => {
    const r = room();
    const a = tab('u2');
    const b = tab('u2', 'editing');
    await presence.join(r, a);
    await presence.join(r, b);
    await presence.join(r, b);
    expect((await presence.snapshot(r)).users[0]?.state).toBe('editing');
    await presence.leave(r, b.tabId);
    expect(await events(r)).toEqual([
      { type: 'join', userId: 'u2', name: 'User u2', state: 'viewing' },
      { type: 'update', userId: 'u2', name: 'User u2', state: 'editing' },
      { type: 'update', userId: 'u2', name: 'User u2', state: 'viewing' },
    ]);
  });

  it('removes a tab whose heartbeats stopped, with one leave however many processes sweep', async () => {
    const r = room();
    await presence.join(r, tab('gone'));
    const alive = tab('alive');
    await presence.join(r, alive);
    await new Promise((res) => setTimeout(res, 200));
    await presence.join(r, alive); // a heartbeat
    await new Promise((res) => setTimeout(res, 200));
    const swept = await Promise.all([presence.sweep(r), presence.sweep(r), presence.sweep(r)]);
    expect(swept.reduce((a, b) => a + b, 0)).toBe(1);
    expect((await presence.snapshot(r)).users.map((u) => u.userId)).toEqual(['alive']);
    expect((await events(r)).filter((e) => e.type === 'leave')).toEqual([
      { type: 'leave', userId: 'gone', name: 'User gone' },
    ]);
  });

  it('keeps a tab alive while its process sends heartbeats, and leaves it on goodbye', async () => {
    const r = room();
    const t = tab('steady');
    const goodbye = await presence.enter(r, t);
    const stopWatching = presence.watch(r);
    await new Promise((res) => setTimeout(res, 700));
    expect((await presence.snapshot(r)).users.map((u) => u.userId)).toEqual(['steady']);
    await goodbye();
    stopWatching();
    expect((await events(r)).map((e) => e.type)).toEqual(['join', 'leave']);
  });

  it('names in presence events are data, not markup or script', async () => {
    const r = room();
    await presence.join(r, { ...tab('x'), name: '"}<script>alert(1)</script>\\' });
    expect((await events(r))[0]).toMatchObject({ name: '"}<script>alert(1)</script>\\' });
  });
});
