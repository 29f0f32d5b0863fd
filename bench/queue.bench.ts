import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import BeeQueue from 'bee-queue';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { loadTestServices, parseConfig } from '../server/config/env.ts';
import { createOrm, rootEm } from '../server/platform/db/orm.ts';
import { createLogger } from '../server/platform/logger/logger.ts';
import { beeRedisOptions } from '../server/platform/queue/store.ts';
import { defineJob } from '../server/platform/queue/definition.ts';
import { JobRegistry } from '../server/platform/queue/registry.ts';
import { queueSettingsFor } from '../server/platform/queue/settings.ts';
import { QueueSystem } from '../server/platform/queue/system.ts';
import { Worker } from '../server/platform/queue/worker.ts';
import { createRedisHub } from '../server/platform/redis/redis.ts';
import { entities } from '../server/modules/entities.ts';
import { percentile, printFigures, type Figure } from './lib.ts';

// No-op jobs/s through Keel's layer (job index, metrics, tenant scope, middleware checks) against raw bee-queue on
// the same Redis in the same run, at concurrency 1, 20 and 50; then dispatch→start latency at ~1,000 jobs/s.
// Each side produces and consumes in one process, dispatching in chunks of 500 while its worker runs. Keel's jobs
// belong to four organizations (enterprise tier), so every take goes through the fair turn order (ADR 0024).
// Last, the wait of a small tenant's jobs queued behind another tenant's 10,000-job burst: Keel's fair take against
// the same jobs without organizations (bee's one FIFO `waiting` list), in the same run.

const JOBS = { 1: 8_000, 20: 20_000, 50: 20_000 } as const;
const CHUNK = 500;
const LATENCY_RATE = 1_000;
const LATENCY_SECONDS = 4;
const ORGS = ['a', 'b', 'c', 'd'].map((c) => `00000000-0000-4000-8000-00000000000${c}`);
const BURST = 10_000;
const SMALL = 20;

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Side {
  /** Dispatches n jobs carrying their dispatch time; resolves when the last one has been saved. */
  produce(n: number, stamp?: boolean): Promise<void>;
  /** Handler calls so far, and start delays recorded (ms). */
  done(): number;
  delays: number[];
  idle(): Promise<boolean>;
  close(): Promise<void>;
}

async function throughput(side: Side, n: number): Promise<number> {
  const start = now();
  const base = side.done();
  await side.produce(n);
  while (side.done() - base < n || !(await side.idle())) await sleep(2);
  return (n / (now() - start)) * 1000;
}

async function latency(side: Side): Promise<{ p50: number; p99: number }> {
  side.delays.length = 0;
  const perTick = LATENCY_RATE / 100;
  const t0 = now();
  for (let tick = 0; tick < LATENCY_SECONDS * 100; tick++) {
    const due = t0 + tick * 10;
    if (due > now()) await sleep(due - now());
    await side.produce(perTick, true);
  }
  while (side.delays.length < LATENCY_SECONDS * LATENCY_RATE) await sleep(5);
  const sorted = [...side.delays].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

async function rawBee(redisUrl: string, prefix: string, concurrency: number): Promise<Side> {
  const settings = {
    prefix: `${prefix}raw`,
    redis: beeRedisOptions(redisUrl) as never,
    storeJobs: false,
    sendEvents: false,
    getEvents: false,
    removeOnSuccess: true,
    removeOnFailure: true,
  };
  const producer = new BeeQueue(`c${concurrency}`, { ...settings, isWorker: false });
  const worker = new BeeQueue(`c${concurrency}`, { ...settings, isWorker: true });
  let count = 0;
  const delays: number[] = [];
  worker.process(concurrency, async (job) => {
    const at = (job.data as { at?: number }).at;
    if (at) delays.push(now() - at);
    count += 1;
  });
  await Promise.all([producer.ready(), worker.ready()]);
  return {
    delays,
    done: () => count,
    async produce(n, stamp) {
      for (let i = 0; i < n; i += CHUNK) {
        const jobs = Array.from({ length: Math.min(CHUNK, n - i) }, () =>
          producer.createJob(stamp ? { at: now() } : {}),
        );
        await producer.saveAll(jobs);
      }
    },
    idle: async () => (await producer.checkHealth()).active === 0,
    async close() {
      await worker.close(2_000);
      await producer.close(2_000);
    },
  };
}

interface KeelSide extends Side {
  /** Dispatches n jobs of one organization (null: none) in chunks; `stamp` records their waits. */
  dispatchAs(org: string | null, n: number, stamp?: boolean): Promise<void>;
}

async function keel(
  deps: { redisUrl: string; prefix: string; em: ReturnType<typeof rootEm> },
  concurrency: number,
  tag = '',
): Promise<KeelSide> {
  const config = parseConfig({
    NODE_ENV: 'production',
    REDIS_URL: deps.redisUrl,
    KEY_PREFIX: `${deps.prefix}k${concurrency}${tag}:`,
    SESSION_SECRET: 'x'.repeat(32),
  });
  const hub = createRedisHub(deps.redisUrl, config.keyPrefix);
  let count = 0;
  const delays: number[] = [];
  const noop = defineJob({
    name: 'bench.noop',
    payload: z.object({ at: z.number().optional() }),
    tags: () => ['bench'],
    handle: ({ at }) => {
      if (at) delays.push(now() - at);
      count += 1;
    },
  });
  const system = new QueueSystem({
    config,
    redis: hub.get('queue'),
    em: deps.em,
    logger: createLogger({ level: 'warn', pretty: false }),
    registry: new JobRegistry().register(noop),
    settings: queueSettingsFor('production'),
  });
  await system.setOrganizationTiers(ORGS.map((o) => [o, 'enterprise']));
  const worker = new Worker(system, { queues: ['default'], concurrency });
  await worker.start();
  const active = system.keys.beeKey('default', 'active');
  let turn = 0;
  const dispatchAs = async (organizationId: string | null, n: number, stamp?: boolean) => {
    for (let i = 0; i < n; i += CHUNK) {
      const len = Math.min(CHUNK, n - i);
      if (len === 1 || stamp) {
        // The latency runs dispatch one job at a time, as an API request would.
        for (let j = 0; j < len; j++)
          await system.dispatch(noop, stamp ? { at: now() } : {}, { organizationId });
      } else {
        await system.dispatchMany(
          Array.from({ length: len }, () => ({ job: noop, payload: {} })),
          { organizationId },
        );
      }
    }
  };
  return {
    delays,
    done: () => count,
    dispatchAs,
    async produce(n, stamp) {
      // Chunks go to the four organizations in turn.
      for (let i = 0; i < n; i += CHUNK) {
        await dispatchAs(ORGS[turn++ % ORGS.length]!, Math.min(CHUNK, n - i), stamp);
      }
    },
    idle: async () => (await system.redis.llen(active)) === 0,
    async close() {
      await worker.stop(2_000);
      await system.close();
      await hub.close();
    },
  };
}

/**
 * The p95 wait (ms) of a small tenant's SMALL jobs, dispatched one by one right after another tenant queued BURST
 * jobs; `fair` false queues both without organizations, so they share bee's FIFO `waiting` list.
 */
async function burstWait(side: KeelSide, fair: boolean): Promise<number> {
  side.delays.length = 0;
  const base = side.done();
  await side.dispatchAs(fair ? ORGS[0]! : null, BURST);
  await side.dispatchAs(fair ? ORGS[1]! : null, SMALL, true);
  while (side.done() - base < BURST + SMALL || !(await side.idle())) await sleep(5);
  return percentile(
    [...side.delays].sort((a, b) => a - b),
    95,
  );
}

/** `only`: 'keel' or 'raw' to run one side (for profiling); both by default. */
export async function run(only = process.argv[3]): Promise<void> {
  const services = loadTestServices();
  const prefix = `keel:bench:${randomBytes(3).toString('hex')}:`;
  // The handlers never query, but Keel runs each job in a database scope, so it needs an ORM to fork from.
  const orm = await createOrm({ databaseUrl: services.pgUrl, pgliteDir: '', entities, poolMax: 2 });
  const em = rootEm(orm);
  const figures: Figure[] = [];
  try {
    for (const c of [1, 20, 50] as const) {
      let rawRate = NaN;
      let keelRate = NaN;
      if (only !== 'keel') {
        const raw = await rawBee(services.redisUrl, prefix, c);
        await throughput(raw, 1_000); // warm-up
        rawRate = await throughput(raw, JOBS[c]);
        await raw.close();
      }
      if (only !== 'raw') {
        const k = await keel({ redisUrl: services.redisUrl, prefix, em }, c);
        await throughput(k, 1_000);
        keelRate = await throughput(k, JOBS[c]);
        await k.close();
      }
      process.stdout.write(
        `concurrency ${c}: keel ${keelRate.toFixed(0)} jobs/s, raw bee-queue ${rawRate.toFixed(0)} jobs/s\n`,
      );
      figures.push({
        name: `noop_c${c}`,
        value: Math.round(keelRate),
        unit: 'jobs/s',
        baseline: Math.round(rawRate),
        goal: 'ratio >= 0.7 (higher is better)',
      });
    }
    const raw = await rawBee(services.redisUrl, prefix, 20);
    const rawLat = await latency(raw);
    await raw.close();
    const k = await keel({ redisUrl: services.redisUrl, prefix, em }, 20);
    const keelLat = await latency(k);
    await k.close();
    const fairSide = await keel({ redisUrl: services.redisUrl, prefix, em }, 20, 'burst');
    await throughput(fairSide, 1_000);
    const fifoWait = await burstWait(fairSide, false);
    const fairWait = await burstWait(fairSide, true);
    await fairSide.close();
    process.stdout.write(
      `small tenant behind a ${BURST}-job burst, wait p95: fair ${fairWait.toFixed(1)} ms, FIFO ${fifoWait.toFixed(1)} ms\n`,
    );
    figures.push({
      name: 'burst_small_tenant_wait_p95',
      value: Number(fairWait.toFixed(2)),
      unit: 'ms',
      baseline: Number(fifoWait.toFixed(2)),
      goal: 'lower is better (baseline: the same jobs in one FIFO list)',
    });
    process.stdout.write(
      `latency at ${LATENCY_RATE} jobs/s: keel p50 ${keelLat.p50.toFixed(2)} ms p99 ${keelLat.p99.toFixed(2)} ms; raw p50 ${rawLat.p50.toFixed(2)} ms p99 ${rawLat.p99.toFixed(2)} ms\n`,
    );
    figures.push(
      {
        name: 'dispatch_start_p50',
        value: Number(keelLat.p50.toFixed(3)),
        unit: 'ms',
        baseline: Number(rawLat.p50.toFixed(3)),
        goal: 'lower is better',
      },
      {
        name: 'dispatch_start_p99',
        value: Number(keelLat.p99.toFixed(3)),
        unit: 'ms',
        baseline: Number(rawLat.p99.toFixed(3)),
        goal: 'lower is better',
      },
    );
  } finally {
    await orm.close(true);
    const redis = new Redis(services.redisUrl);
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
    redis.disconnect();
  }
  printFigures('queue', figures);
}
