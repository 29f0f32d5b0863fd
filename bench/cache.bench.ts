import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setImmediate as tick } from 'node:timers/promises';
import { loadTestServices } from '../server/config/env.ts';
import type { Cache } from '../server/platform/cache/cache.ts';
import { createCache } from '../server/platform/cache/create.ts';
import { PubSub } from '../server/platform/pubsub/pubsub.ts';
import { createRedisHub, type RedisHub } from '../server/platform/redis/redis.ts';
import { deleteKeys } from '../server/test/harness.ts';
import { percentile, printFigures } from './lib.ts';

// What the cache costs per read, against a raw ioredis GET measured in the same run, and how often the tenant
// dashboard is answered from it under a skewed (Zipf) load of 1,000 organizations with writes flushing them.

const DASHBOARD = { organizations: 1000, requests: 200_000, concurrency: 50, writeShare: 0.002, zipfS: 1.1 };

function open(hub: RedisHub, tuning: { maxBytes?: number } = {}): Promise<Cache> {
  const pubsub = new PubSub(hub.get('publish'), hub.get('pubsub'), hub.keyspace('pubsub'));
  const cache = createCache({ env: 'production' }, hub, pubsub, undefined, tuning);
  return cache.start().then(() => cache);
}

/** Sequential awaited calls for `ms`: latencies in µs. */
async function timed(ms: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const t = performance.now();
    await fn();
    out.push((performance.now() - t) * 1000);
  }
  return out.sort((a, b) => a - b);
}

/** Zipf sampler over ranks 1..n by inverse CDF on precomputed weights. */
function zipf(n: number, s: number, random = Math.random): () => number {
  const cdf: number[] = [];
  let sum = 0;
  for (let k = 1; k <= n; k++) cdf.push((sum += 1 / k ** s));
  for (let i = 0; i < n; i++) cdf[i]! /= sum;
  return () => {
    const u = random();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

export async function run(): Promise<void> {
  const { redisUrl } = loadTestServices();
  const prefix = `keel:bench:${randomBytes(3).toString('hex')}:`;
  const hubs = [
    createRedisHub(redisUrl, prefix),
    createRedisHub(redisUrl, prefix),
    createRedisHub(redisUrl, prefix),
  ];
  const [hub1, hub2, hub3] = hubs as [RedisHub, RedisHub, RedisHub];
  try {
    const raw = hub1.get('cache');
    const value = { users: 42, activeUsers30d: 17, mrrCents: 0, churn30d: 0.02, at: new Date() };
    await raw.set(`${prefix}bench:raw`, JSON.stringify(value));

    const cache = await open(hub1);
    // A process whose L1 can hold nothing: every read is an L2 hit.
    const l2Only = await open(hub2, { maxBytes: 1 });
    await cache.global.remember('hot', () => value, { ttl: 3600 });

    // Warm-up (JIT, connections).
    await timed(500, () => raw.get(`${prefix}bench:raw`));
    await timed(500, () => cache.global.remember('hot', () => value, { ttl: 3600 }));
    await timed(500, () => l2Only.global.get('hot'));

    const rawLat = await timed(3000, () => raw.get(`${prefix}bench:raw`));
    const l2Lat = await timed(3000, () => l2Only.global.get('hot'));

    const l1Calls = 2_000_000;
    const factory = () => value;
    const t0 = performance.now();
    for (let i = 0; i < l1Calls; i++) await cache.global.remember('hot', factory, { ttl: 3600 });
    const l1OpsPerSec = l1Calls / ((performance.now() - t0) / 1000);
    const rawOpsPerSec = 1e6 / (rawLat.reduce((a, b) => a + b, 0) / rawLat.length);

    // Dashboard under Zipf: two processes share Redis; a small share of requests are writes that flush the
    // organization's tags (as a membership or activity write does). The factory stands in for the database.
    const p1 = cache;
    const p2 = await open(hub3);
    const pick = zipf(DASHBOARD.organizations, DASHBOARD.zipfS);
    const orgs = Array.from(
      { length: DASHBOARD.organizations },
      (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    );
    const before = [p1.stats(), p2.stats()];
    let dbReads = 0;
    let reads = 0;
    let issued = 0;
    const startedAt = performance.now();
    await Promise.all(
      Array.from({ length: DASHBOARD.concurrency }, async (_, w) => {
        const proc = w % 2 ? p2 : p1;
        while (issued < DASHBOARD.requests) {
          issued++;
          const org = orgs[pick()]!;
          const scope = proc.tenant(org);
          if (Math.random() < DASHBOARD.writeShare) {
            await scope.flushTags('members');
            continue;
          }
          reads++;
          await scope.remember(
            'dashboard:stats',
            async () => {
              dbReads++;
              await tick();
              return { users: 3, activeUsers30d: 2 };
            },
            { ttl: 60, tags: ['members'] },
          );
        }
      }),
    );
    const seconds = (performance.now() - startedAt) / 1000;
    const hitRate = 1 - dbReads / reads;
    const after = [p1.stats(), p2.stats()];
    const l1Hits = after.reduce((n, s, i) => n + s.l1.hits - before[i]!.l1.hits, 0);

    printFigures('cache', [
      {
        name: 'l1_hit_ops',
        value: Math.round(l1OpsPerSec),
        unit: 'ops/s',
        baseline: Math.round(rawOpsPerSec),
        goal: 'higher: far above a Redis round trip',
      },
      {
        name: 'l2_hit_p50',
        value: percentile(l2Lat, 50),
        unit: 'us',
        baseline: percentile(rawLat, 50),
        goal: 'lower: close to one raw GET',
      },
      {
        name: 'l2_hit_p99',
        value: percentile(l2Lat, 99),
        unit: 'us',
        baseline: percentile(rawLat, 99),
        goal: 'lower: close to one raw GET',
      },
      {
        name: 'dashboard_zipf_hit_rate',
        value: Number((hitRate * 100).toFixed(2)),
        unit: '%',
        baseline: null,
        goal: '>=95%',
      },
      {
        name: 'dashboard_zipf_l1_share',
        value: Number(((l1Hits / reads) * 100).toFixed(2)),
        unit: '%',
        baseline: null,
        goal: 'info: reads answered from process memory',
      },
      {
        name: 'dashboard_zipf_requests',
        value: Math.round(DASHBOARD.requests / seconds),
        unit: 'req/s',
        baseline: null,
        goal: 'info: 2 processes, 0.2% writes',
      },
    ]);
    for (const c of [cache, l2Only, p2]) c.close();
  } finally {
    await Promise.all(hubs.map((h) => h.close()));
    await deleteKeys(redisUrl, prefix);
  }
}
