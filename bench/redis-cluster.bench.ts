import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadTestServices } from '../server/config/env.ts';
import { createLogger } from '../server/platform/logger/logger.ts';
import { createCache } from '../server/platform/cache/create.ts';
import { PubSub } from '../server/platform/pubsub/pubsub.ts';
import { Realtime } from '../server/platform/realtime/realtime.ts';
import { createRedisHub, type RedisHub } from '../server/platform/redis/redis.ts';
import { freePort, startRedis, stopRedis } from '../server/test/own-redis.ts';
import { startRedisCluster } from '../server/test/own-redis-cluster.ts';
import { hit, prepareApiBench, startKeelServer, type KeelServer } from './api-harness.ts';
import { median, percentile, printFigures, type Figure } from './lib.ts';

// The same Keel paths on a Redis Cluster (three masters, three replicas) and on one redis-server, both started
// here on loopback (the shared test Redis is busy with other work and would skew the baseline), in one run: cache L2 hits (a process whose L1 holds nothing), and realtime publish → receive
// through the replay log at 100 subscribers in another process (sharded pub/sub on the cluster, classic on one), and
// the tenant request path served by Keel processes with those roles on each (`tenantPath`).

const SUBSCRIBERS = 100;
const MESSAGES = 200;
const RETENTION = { maxLen: 1000, maxAgeMs: 600_000 };
const silent = createLogger({ level: 'silent', pretty: false });

/** Sequential awaited calls for `ms`: latencies in µs, sorted. */
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

async function cacheL2(hub: RedisHub): Promise<number[]> {
  const pubsub = new PubSub(hub.get('publish'), hub.get('pubsub'), hub.keyspace('pubsub'));
  const writer = createCache({ env: 'production' }, hub, pubsub);
  const reader = createCache({ env: 'production' }, hub, pubsub, undefined, { maxBytes: 1 });
  const orgs = Array.from({ length: 50 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
  const value = { users: 42, activeUsers30d: 17, mrrCents: 0, churn30d: 0.02, at: new Date() };
  for (const org of orgs) await writer.tenant(org).set('dashboard', value, { ttl: 3600, tags: ['members'] });
  let i = 0;
  const read = () => reader.tenant(orgs[i++ % orgs.length]!).get('dashboard');
  await timed(500, read); // warm-up (JIT, connections to every master)
  const lat = await timed(3000, read);
  if (reader.stats().l2.hits < lat.length) throw new Error('cache bench: reads were not all L2 hits');
  return lat;
}

async function publishToReceive(
  publisherHub: RedisHub,
  subscriberHub: RedisHub,
): Promise<{
  latencies: number[];
  lost: number;
}> {
  const pubA = new PubSub(
    publisherHub.get('publish'),
    publisherHub.get('pubsub'),
    publisherHub.keyspace('pubsub'),
  );
  const pubB = new PubSub(
    subscriberHub.get('publish'),
    subscriberHub.get('pubsub'),
    subscriberHub.keyspace('pubsub'),
  );
  const a = new Realtime(publisherHub.get('publish'), pubA, publisherHub.keyspace('pubsub'), silent);
  const b = new Realtime(subscriberHub.get('publish'), pubB, subscriberHub.keyspace('pubsub'), silent);
  const channel = `bench:${randomBytes(4).toString('hex')}`;
  const sentAt = new Map<number, number>();
  const latencies: number[] = [];
  let received = 0;
  const abort = new AbortController();
  const readers = Array.from({ length: SUBSCRIBERS }, async () => {
    const sub = b.log.subscribe<{ n: number }>(channel, { signal: abort.signal, retention: RETENTION });
    try {
      for await (const item of sub) {
        if (item.kind !== 'event') continue;
        const at = sentAt.get(item.data.n);
        if (at !== undefined) latencies.push(performance.now() - at);
        received++;
      }
    } catch (err) {
      if (!abort.signal.aborted) throw err;
    }
  });
  await sleep(500); // every subscriber listening
  for (let n = 0; n < MESSAGES; n++) {
    sentAt.set(n, performance.now());
    await a.log.publish(channel, { n }, RETENTION);
    await sleep(10);
  }
  const deadline = Date.now() + 5000;
  while (received < MESSAGES * SUBSCRIBERS && Date.now() < deadline) await sleep(20);
  abort.abort();
  await Promise.allSettled(readers);
  return { latencies: latencies.sort((x, y) => x - y), lost: MESSAGES * SUBSCRIBERS - received };
}

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BURST_S = Number(process.env.BENCH_BURST_S ?? 4);

/**
 * The tenant request path (bench/api's three calls with an API token) served by Keel in child processes whose
 * roles but the queue are on the cluster, against the same on one redis-server. Bursts rotate between the servers
 * round after round, so load changes hit both sides; a second single-node server in each round is the noise floor.
 */
async function tenantPath(singleUrl: string, clusterUrl: string): Promise<Figure[]> {
  const bench = await prepareApiBench();
  const roles = (url: string) => ({
    REDIS_CACHE_URL: url,
    REDIS_SESSIONS_URL: url,
    REDIS_LIMITS_URL: url,
    REDIS_REALTIME_URL: url,
    REDIS_METRICS_URL: url,
  });
  const servers: KeelServer[] = [];
  try {
    const single = await startKeelServer(bench, roles(singleUrl));
    servers.push(single);
    const again = await startKeelServer(bench, roles(singleUrl));
    servers.push(again);
    const clustered = await startKeelServer(bench, roles(clusterUrl));
    servers.push(clustered);
    const input = (json: unknown) => `?input=${encodeURIComponent(JSON.stringify({ json }))}`;
    const calls = [
      ['organization_current', '/trpc/organization.current'],
      ['documents_get', `/trpc/documents.get${input({ id: bench.documentId })}`],
      ['documents_list', `/trpc/documents.list${input({ limit: 25 })}`],
    ] as const;
    const burst = async (s: KeelServer, path: string, durationS = BURST_S) =>
      (await hit(new URL(s.url).origin + path, s.headers, { duration: durationS })).requests.average;
    for (const [, path] of calls) for (const s of servers) await burst(s, path, 2); // warm-up
    const rps = new Map<string, { single: number[]; cluster: number[]; ratio: number[] }>(
      calls.map(([name]) => [name, { single: [], cluster: [], ratio: [] }]),
    );
    const noise = { single: [] as number[], again: [] as number[], ratio: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, path] of calls) {
        const base = await burst(single, path);
        const onCluster = await burst(clustered, path);
        const baseAgain = await burst(again, path);
        const r = rps.get(name)!;
        r.single.push(base);
        r.cluster.push(onCluster);
        r.ratio.push(onCluster / base);
        noise.single.push(base);
        noise.again.push(baseAgain);
        noise.ratio.push(baseAgain / base);
      }
    }
    return [
      ...calls.map(([name]) => {
        const r = rps.get(name)!;
        return {
          name: `request_${name}_rps`,
          value: Math.round(median(r.cluster)),
          unit: 'req/s',
          baseline: Math.round(median(r.single)),
          ratio: median(r.ratio),
          goal: 'higher: close to one node',
        };
      }),
      {
        name: 'request_noise_rps',
        value: Math.round(median(noise.again)),
        unit: 'req/s',
        baseline: Math.round(median(noise.single)),
        ratio: median(noise.ratio),
        goal: 'the noise floor: the same single-node setup twice in a round',
      },
    ];
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await bench.cleanup();
  }
}

export async function run(): Promise<void> {
  const { redisUrl } = loadTestServices(); // the queue role only (not measured)
  const cluster = await startRedisCluster();
  const singlePort = await freePort();
  const singleServer = await startRedis(singlePort);
  const singleUrl = `redis://127.0.0.1:${singlePort}`;
  const prefix = `keel:bench:${randomBytes(3).toString('hex')}:`;
  const everyRole = (url: string) => ({
    cache: url,
    sessions: url,
    limits: url,
    realtime: url,
    metrics: url,
  });
  const single = [
    createRedisHub(redisUrl, prefix, undefined, everyRole(singleUrl)),
    createRedisHub(redisUrl, prefix, undefined, everyRole(singleUrl)),
  ] as const;
  const clustered = [
    createRedisHub(redisUrl, prefix, undefined, everyRole(cluster.url)),
    createRedisHub(redisUrl, prefix, undefined, everyRole(cluster.url)),
  ] as const;
  try {
    const l2Single = await cacheL2(single[0]);
    const l2Cluster = await cacheL2(clustered[0]);
    const rtSingle = await publishToReceive(single[0], single[1]);
    const rtCluster = await publishToReceive(clustered[0], clustered[1]);
    const request = await tenantPath(singleUrl, cluster.url);
    process.stdout.write(
      `# load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}\n`,
    );
    const p = (xs: number[], q: number) => percentile(xs, q);
    printFigures('redis-cluster', [
      {
        name: 'cache_l2_hit_p50',
        value: Math.round(p(l2Cluster, 50)),
        unit: 'us',
        baseline: Math.round(p(l2Single, 50)),
        goal: 'lower: close to one node',
      },
      {
        name: 'cache_l2_hit_p99',
        value: Math.round(p(l2Cluster, 99)),
        unit: 'us',
        baseline: Math.round(p(l2Single, 99)),
        goal: 'lower: close to one node',
      },
      {
        name: 'realtime_p95_100_subscribers',
        value: Number(p(rtCluster.latencies, 95).toFixed(2)),
        unit: 'ms',
        baseline: Number(p(rtSingle.latencies, 95).toFixed(2)),
        goal: 'lower: close to one node',
      },
      {
        name: 'realtime_lost',
        value: rtCluster.lost,
        unit: 'messages',
        baseline: rtSingle.lost,
        goal: 'zero',
      },
      ...request,
    ]);
  } finally {
    await Promise.all([...single, ...clustered].map((h) => h.close()));
    await cluster.stop();
    await stopRedis(singleServer);
  }
}
