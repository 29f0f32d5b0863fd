import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callerAs, createOrg, createStaff } from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { eventually, stopRedis } from '../../test/own-redis.ts';
import { startRedisCluster, type OwnRedisCluster } from '../../test/own-redis-cluster.ts';
import { runHealthChecks } from '../health/health.ts';
import type { LogItem } from '../pubsub/event-log.ts';
import { createCluster, isCluster } from './redis.ts';
import { keySlot, scanKeys } from './slots.ts';

// Issue 22 items 2 and 4: every role but the queue on a real Redis Cluster (three masters, three replicas, started
// here), shared by two Keel processes (two deps instances with one key prefix). The queue stays on the shared
// single-node Redis (REDIS_URL): a cluster cannot hold it (ADR 0022).

const RETENTION = { maxLen: 1000, maxAgeMs: 600_000 };

describe('every role but the queue on a Redis Cluster', () => {
  let cluster: OwnRedisCluster;
  let a: TestEnv;
  let b: TestEnv;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    const prefix = `keel:test:${randomBytes(4).toString('hex')}:`;
    const roles = {
      KEY_PREFIX: prefix,
      REDIS_CACHE_URL: cluster.url,
      REDIS_SESSIONS_URL: cluster.url,
      REDIS_LIMITS_URL: cluster.url,
      REDIS_REALTIME_URL: cluster.url,
      REDIS_METRICS_URL: cluster.url,
    };
    a = await createTestEnv(roles, { realLimits: true });
    b = await createTestEnv(roles, { realLimits: true });
  }, 60_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await cluster?.stop();
  });

  it('gives every role but the queue a cluster client', () => {
    for (const role of ['sessions', 'cache', 'limits', 'pubsub', 'publish', 'metrics'] as const) {
      expect(isCluster(a.deps.redis.get(role))).toBe(true);
    }
    expect(isCluster(a.deps.redis.get('queue'))).toBe(false);
    expect(a.deps.pubsub.sharded).toBe(true);
  });

  it('shares sessions, cache entries, tag flushes and limits between the two processes', async () => {
    const userId = randomBytes(8).toString('hex');
    const sid = await a.deps.sessions.create(userId);
    expect(await b.deps.sessions.get(sid)).toMatchObject({ userId });
    await b.deps.sessions.destroyAllForUser(userId);
    expect(await a.deps.sessions.get(sid)).toBeNull();

    // Two tenants: their keys (value, lock, tags, versions) lie in different slots, each tenant's in one.
    let runs = 0;
    const org = randomBytes(6).toString('hex');
    const remember = (env: TestEnv) =>
      env.deps.cache.tenant(org).remember('plan', () => ++runs, { ttl: 60, tags: ['billing', 'plan'] });
    expect(await remember(a)).toBe(1);
    expect(await remember(b)).toBe(1); // from Redis: b never ran the factory
    await a.deps.cache.tenant(org).flushTags('billing');
    expect(await remember(b)).toBe(2);
    expect(await remember(a)).toBe(2); // a's in-memory copy went with the flush (sharded bus)

    const ip = `10.${Math.floor(Math.random() * 250)}.0.1`;
    for (let i = 0; i < 3; i++) expect((await a.deps.rateLimits.consume('login', ip)).allowed).toBe(true);
    for (let i = 0; i < 2; i++) expect((await b.deps.rateLimits.consume('login', ip)).allowed).toBe(true);
    expect((await a.deps.rateLimits.consume('login', ip)).allowed).toBe(false);
  });

  it('replays a realtime channel from a last id and delivers live messages across processes', async () => {
    const channel = `test:${randomBytes(4).toString('hex')}`;
    const first = await a.deps.realtime.log.publish(channel, { n: 1 }, RETENTION);
    await a.deps.realtime.log.publish(channel, { n: 2 }, RETENTION);
    await a.deps.realtime.log.publish(channel, { n: 3 }, RETENTION);
    const abort = new AbortController();
    const seen: number[] = [];
    const sub = b.deps.realtime.log.subscribe<{ n: number }>(channel, {
      lastEventId: first,
      signal: abort.signal,
      retention: RETENTION,
    });
    const reading = (async () => {
      for await (const item of sub as AsyncGenerator<LogItem<{ n: number }>>) {
        if (item.kind === 'event') seen.push(item.data.n);
        if (seen.length === 3) break;
      }
    })();
    expect(await eventually(async () => seen.length === 2)).toBe(true);
    await a.deps.realtime.log.publish(channel, { n: 4 }, RETENTION);
    await reading;
    abort.abort();
    expect(seen).toEqual([2, 3, 4]);
  });

  it('shows presence joined on one process to the other', async () => {
    const room = `doc:${randomBytes(4).toString('hex')}`;
    await a.deps.realtime.presence.join(room, { tabId: 't1', userId: 'u1', name: 'Ann', state: 'editing' });
    const snap = await b.deps.realtime.presence.snapshot(room);
    expect(snap.users).toEqual([expect.objectContaining({ userId: 'u1', state: 'editing', tabs: 1 })]);
    await b.deps.realtime.presence.leave(room, 't1');
    expect((await a.deps.realtime.presence.snapshot(room)).users).toEqual([]);
  });

  it('propagates a flag change to the other process, evaluated and pushed to its subscribers', async () => {
    const staff = await createStaff(a.deps);
    const org = await createOrg(a.deps);
    const key = `cluster-${randomBytes(3).toString('hex')}`;
    const ops = (await callerAs(a.deps, staff)).ops.flags;
    await ops.create({ key, description: 'cluster test', kind: 'boolean', owner: 'team-a' });
    expect((await b.deps.flags.evaluateAll(org.id))[key]?.value).toBe(false);
    const updates = await (await callerAs(b.deps, org.owner)).flags.onChange();
    const iterator = updates[Symbol.asyncIterator]();
    const data = (r: IteratorResult<unknown>) => (r.value as [string, unknown])[1];
    expect(data(await iterator.next())).toMatchObject({ keys: [], flags: { [key]: { value: false } } });
    await ops.update({ key, enabled: true });
    expect((await b.deps.flags.evaluateAll(org.id))[key]?.value).toBe(true);
    expect(data(await iterator.next())).toMatchObject({ keys: [key], flags: { [key]: { value: true } } });
    await iterator.return?.();
  });

  it('flushes console metrics, clears the cache on every master, and reports readiness per cluster', async () => {
    a.deps.observability.console.count('cluster_probe', 3);
    await a.deps.observability.console.flush();
    const window = await b.deps.observability.console.window(Date.now() - 60_000, Date.now());
    expect(window.counters['cluster_probe']).toBe(3);

    const tenants = Array.from({ length: 20 }, () => randomBytes(6).toString('hex'));
    for (const t of tenants) await a.deps.cache.tenant(t).set('k', t, { ttl: 60 });
    const cachePattern = `${a.config.keyPrefix}cache:*`;
    const slots = new Set<number>();
    const probe = createCluster(cluster.url, 'test');
    try {
      await scanKeys(probe, cachePattern, async (keys) => {
        for (const k of keys) {
          // keySlot (what the slot unit tests rely on) agrees with the cluster's own CLUSTER KEYSLOT.
          expect(await probe.cluster('KEYSLOT', k)).toBe(keySlot(k));
          slots.add(keySlot(k));
        }
      });
      expect(slots.size).toBeGreaterThanOrEqual(10); // tenants spread over slots (and so over masters)
      await a.deps.cache.clear();
      let left = 0;
      await scanKeys(probe, cachePattern, async (keys) => void (left += keys.length));
      expect(left).toBe(0);
    } finally {
      probe.disconnect();
    }

    const report = await runHealthChecks(a.deps.healthChecks, { version: 'test' });
    const key = 'redis-sessions-cache-limits-realtime-metrics:responseTime';
    expect(report.checks[key]?.[0]?.status).toBe('pass');
    expect(report.checks['redis:responseTime']?.[0]?.status).toBe('pass');
  });

  it('serves every request while slots migrate between masters', async () => {
    const masters = (await cluster.cli('check')).match(/M: ([0-9a-f]{40})/g)!.map((m) => m.slice(3));
    expect(masters.length).toBe(3);
    const failures: string[] = [];
    let done = 0;
    let stop = false;
    const traffic = (async () => {
      for (let i = 0; !stop; i++) {
        try {
          const org = `org${i % 50}`;
          const sid = await a.deps.sessions.create(`u${i}`);
          if (!(await b.deps.sessions.get(sid))) failures.push(`session ${i} missing`);
          await a.deps.cache.tenant(org).set('k', i, { ttl: 60, tags: ['t'] });
          await b.deps.cache.tenant(org).flushTags('t');
          await a.deps.realtime.log.publish(`mig:${i % 20}`, { i }, RETENTION);
          await a.deps.rateLimits.consume('api', `u${i % 30}`);
          done++;
        } catch (err) {
          failures.push(err instanceof Error ? err.message : String(err));
        }
      }
    })();
    await cluster.cli(
      'reshard',
      '--cluster-from',
      masters[0]!,
      '--cluster-to',
      masters[1]!,
      '--cluster-slots',
      '1000',
      '--cluster-yes',
    );
    stop = true;
    await traffic;
    expect(failures).toEqual([]);
    expect(done).toBeGreaterThan(0);
  }, 120_000);

  it('survives a master failing over: sessions kept, requests back within 10 s, replay loses nothing', async () => {
    // Sessions and a replay channel, then the master holding that channel's slot dies.
    const sessions = await Promise.all(Array.from({ length: 30 }, (_, i) => a.deps.sessions.create(`f${i}`)));
    const channel = `failover:${randomBytes(4).toString('hex')}`;
    const ids = [];
    for (let n = 1; n <= 3; n++) ids.push(await a.deps.realtime.log.publish(channel, { n }, RETENTION));
    // A live subscriber in the other process, current up to the third message, stays subscribed through it all.
    const liveAbort = new AbortController();
    const live: number[] = [];
    const liveReading = (async () => {
      for await (const item of b.deps.realtime.log.subscribe<{ n: number }>(channel, {
        lastEventId: ids[2]!,
        signal: liveAbort.signal,
        retention: RETENTION,
      })) {
        if (item.kind === 'event') live.push(item.data.n);
      }
    })().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 200)); // listening
    const victim = await cluster.masterOf(keySlot(a.deps.realtime.log.key(channel)));
    await stopRedis(victim.process);
    const killedAt = Date.now();
    // Until the replica takes over, readiness fails and names the node that is gone.
    const during = await runHealthChecks(a.deps.healthChecks, { version: 'test' });
    const check = during.checks['redis-sessions-cache-limits-realtime-metrics:responseTime']?.[0];
    expect(check?.status).toBe('fail');
    expect(check?.output).toContain(`127.0.0.1:${victim.port}`);

    // Publishing resumes once the replica is promoted (the client retries through the failover).
    let published: string | null = null;
    while (!published && Date.now() - killedAt < 30_000) {
      published = await a.deps.realtime.log.publish(channel, { n: 4 }, RETENTION).catch(() => null);
    }
    expect(published).not.toBeNull();
    const recoveredMs = Date.now() - killedAt;
    expect(recoveredMs).toBeLessThan(10_000);

    for (const sid of sessions) expect(await b.deps.sessions.get(sid)).not.toBeNull();

    // The live subscriber gets what was published after the failover: its shard's subscription moved to the
    // promoted replica, and the reconnect made it backfill from the log (a retried publish may repeat 4).
    await a.deps.realtime.log.publish(channel, { n: 5 }, RETENTION);
    expect(await eventually(async () => live.includes(5))).toBe(true);
    liveAbort.abort();
    await liveReading;
    expect([...new Set(live)]).toEqual([4, 5]);

    // A subscriber that was reading up to the second message reconnects with its last id.
    const abort = new AbortController();
    const seen: number[] = [];
    for await (const item of b.deps.realtime.log.subscribe<{ n: number }>(channel, {
      lastEventId: ids[1]!,
      signal: abort.signal,
      retention: RETENTION,
    })) {
      if (item.kind === 'event') seen.push(item.data.n);
      if (seen.length === 2) break;
    }
    abort.abort();
    expect(seen).toEqual([3, 4]);
    await cluster.waitHealthy();
    const report = await runHealthChecks(a.deps.healthChecks, { version: 'test' });
    expect(report.checks['redis-sessions-cache-limits-realtime-metrics:responseTime']?.[0]).toMatchObject({
      status: 'pass',
    });
  }, 120_000);
});
