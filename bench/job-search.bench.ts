import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { defineJob, type AnyJobDefinition } from '../server/platform/queue/definition.ts';
import { newEnvelope, type Envelope } from '../server/platform/queue/envelope.ts';
import { JobIndex, type IndexRecord, type JobStatus } from '../server/platform/queue/job-index.ts';
import { QueueKeys } from '../server/platform/queue/keys.ts';
import { defineScripts } from '../server/platform/queue/scripts.ts';
import type { SearchFilter } from '../server/platform/queue/search-index.ts';
import { mergeSettings, queueSettingsFor } from '../server/platform/queue/settings.ts';
import { freePort, startRedis, stopRedis } from '../server/test/own-redis.ts';
import { PAGE_BUDGET } from '../server/modules/jobs/job-search.service.ts';
import { median, percentile, printFigures, type Figure } from './lib.ts';

// Job search at 1,000,000 indexed jobs (ADR 0026), on a redis-server of its own. The index is filled through the
// real entries: each job's dispatch entries (JobIndex.dispatched) and its outcome record (JobIndex.outcome, written
// as the index script would write it, pipelined), spread over the last 50 minutes:
// 10 job types, 1,000 organizations, 50 tags, 10,000 values of a declared payload field, 90% completed, 6% failed,
// 2% cancelled, 2% retrying. Each search is a page of 25 summaries as ops.jobs.search reads it (search script, then
// the records). The baseline is the unfiltered `recent` list page of 25 (ops.jobs.list): the same page of the same
// records from the same index, without a filter — so the ratio is what filtering costs over showing a page.
// JOB_SEARCH_N and JOB_SEARCH_ROUNDS change the size and the number of alternating rounds (default 3).

const N = Number(process.env.JOB_SEARCH_N ?? 1_000_000);
const ROUNDS = Number(process.env.JOB_SEARCH_ROUNDS ?? 3);
const MS_PER_QUERY = 1_000;
const TYPES = 10;
const ORGS = 1_000;
const TAGS = 50;
const CUSTOMERS = 10_000;
const SPAN_MS = 50 * 60_000;

const orgId = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
const pick = (n: number) => Math.floor(Math.random() * n);

const defs = new Map<string, AnyJobDefinition>();
for (let t = 0; t < TYPES; t++) {
  const def = defineJob({
    name: `bench.type${t}`,
    payload: z.object({ customerId: z.string(), email: z.string() }),
    indexed: (p) => ({ customerId: p.customerId }),
    sensitive: ['email'],
    handle: () => undefined,
  });
  defs.set(def.name, def);
}

/** Drawn at random, so no state goes with one type only. */
function randomStatus(): JobStatus {
  const r = pick(50);
  return r < 45 ? 'completed' : r < 48 ? 'failed' : r < 49 ? 'cancelled' : 'retrying';
}

/**
 * What the index script does with records of jobs that have no record yet, as one pipeline with one ZREM / ZADD /
 * SADD per key (removals first, as the script does them): the same keys and entries, written several times faster.
 */
function writeFresh(redis: Redis, records: IndexRecord[]): Promise<unknown> {
  const p = redis.pipeline();
  const groups = new Map<string, { r: string[]; z: (string | number)[]; s: string[] }>();
  const group = (key: string) => groups.get(key) ?? groups.set(key, { r: [], z: [], s: [] }).get(key)!;
  for (const r of records) {
    p.set(String(r[0]), String(r[2]), 'PX', Number(r[1]));
    let i = 3;
    const count = () => Number(r[i++]);
    for (let n = count(); n > 0; n--, i += 3) group(String(r[i])).z.push(r[i + 1]!, String(r[i + 2]));
    for (let n = count(); n > 0; n--, i += 2) group(String(r[i])).r.push(String(r[i + 1]));
    i += count() * 2; // hdel: no stall counts here
    for (let n = count(); n > 0; n--, i += 2) group(String(r[i])).s.push(String(r[i + 1]));
  }
  for (const [key, g] of groups) if (g.r.length) p.zrem(key, ...g.r);
  for (const [key, g] of groups) {
    if (g.z.length) p.zadd(key, ...g.z);
    if (g.s.length) p.sadd(key, ...[...new Set(g.s)]);
  }
  return p.exec();
}

async function fill(redis: Redis, index: JobIndex, now: number): Promise<number> {
  const start = performance.now();
  const CHUNK = 1_000;
  const inFlight: Promise<unknown>[] = [];
  for (let base = 0; base < N; base += CHUNK) {
    const records: IndexRecord[] = [];
    const dispatched: { id: string; env: Envelope }[] = [];
    for (let i = base; i < Math.min(N, base + CHUNK); i++) {
      const at = now - SPAN_MS + Math.floor((i / N) * SPAN_MS);
      const env = newEnvelope(
        {
          name: `bench.type${i % TYPES}`,
          payload: { customerId: `c${pick(CUSTOMERS)}`, email: `user${i}@example.test` },
          org: orgId(pick(ORGS)),
          trace: '00-00000000000000000000000000000001-0000000000000001-01',
          delayUntil: null,
          // `only0` marks every job of type 0: with type 1 it makes the worst case, two large sets that never meet.
          tags: [`tag${pick(TAGS)}`, ...(i % TYPES === 0 ? ['only0'] : [])],
        },
        at,
      );
      const id = randomUUID();
      dispatched.push({ id, env: { ...env } });
      env.attempts = 1;
      const status = randomStatus();
      records.push(
        index.outcome(id, 'default', env, {
          status,
          startedAt: at + 5,
          finishedAt: at + 20,
          worker: 'bench',
          ...(status === 'failed' ? { error: 'Error: bench failure', keepEnvelope: true } : {}),
          ...(status === 'retrying' ? { error: 'Error: bench retry', nextAt: now + 60_000 } : {}),
        }),
      );
    }
    // Dispatch's entries, then the outcome's (in order on the one connection).
    inFlight.push(index.dispatched(dispatched), writeFresh(redis, records));
    while (inFlight.length >= 8) await inFlight.shift();
  }
  await Promise.all(inFlight);
  return (performance.now() - start) / 1000;
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)![1]);
}

/** Bytes held by the search's own keys (the `ix:` sets and their key lists). */
async function searchBytes(redis: Redis, keys: QueueKeys): Promise<number> {
  let total = 0;
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${keys.q}ix:*`, 'COUNT', 5000);
    cursor = next;
    const p = redis.pipeline();
    for (const k of found) p.memory('USAGE', k, 'SAMPLES', '0');
    for (const [, v] of (await p.exec()) ?? []) total += Number(v);
  } while (cursor !== '0');
  return total;
}

/** Sequential awaited calls for `ms`: latencies in ms, sorted. */
async function timed(ms: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out.sort((a, b) => a - b);
}

export async function run(): Promise<void> {
  const port = await freePort();
  const server = await startRedis(port);
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: false });
  try {
    defineScripts(redis);
    const keys = new QueueKeys('bench:');
    const retention = mergeSettings(queueSettingsFor('production'), {}).retention;
    const index = new JobIndex(redis, keys, retention, (name) => defs.get(name));
    const now = Date.now();
    const before = await usedMemory(redis);
    const fillSeconds = await fill(redis, index, now);
    const after = await usedMemory(redis);
    const ixBytes = await searchBytes(redis, keys);
    process.stdout.write(`filled ${N} jobs in ${fillSeconds.toFixed(1)} s\n`);

    const page = (filter: () => SearchFilter) => () =>
      index.find(filter(), { limit: 25, budget: PAGE_BUDGET });
    const queries: [string, () => Promise<unknown>][] = [
      ['baseline', () => index.list('recent', { offset: 0, limit: 25 })],
      [
        'typeOrgRange',
        page(() => ({
          name: `bench.type${pick(TYPES)}`,
          organizationId: orgId(pick(ORGS)),
          from: now - 40 * 60_000,
          to: now - 10 * 60_000,
        })),
      ],
      ['tag', page(() => ({ tag: `tag${pick(TAGS)}` }))],
      ['field', page(() => ({ fields: { customerId: `c${pick(CUSTOMERS)}` } }))],
      ['stateFailed', page(() => ({ state: 'failed' }))],
      ['typeCancelled', page(() => ({ name: `bench.type${pick(TYPES)}`, state: 'cancelled' }))],
      // No match at all: the page walks its whole budget and answers a cursor (the bound on one page's work).
      ['disjoint', page(() => ({ name: 'bench.type1', tag: 'only0' }))],
    ];
    const p50: Record<string, number[]> = {};
    const p95: Record<string, number[]> = {};
    await timed(500, queries[1]![1]); // warm-up (JIT, script cache)
    for (let round = 0; round < ROUNDS; round++) {
      // Alternating: each round measures the baseline and every query in turn.
      for (const [name, fn] of queries) {
        const lat = await timed(MS_PER_QUERY, fn);
        (p50[name] ??= []).push(percentile(lat, 50));
        (p95[name] ??= []).push(percentile(lat, 95));
      }
    }
    const ratio = (name: string, of: Record<string, number[]>) =>
      median(of[name]!.map((v, i) => v / of.baseline![i]!));
    const figures: Figure[] = [
      { name: 'jobs', value: N, unit: 'jobs', goal: '1,000,000 indexed' },
      { name: 'fill', value: N / fillSeconds, unit: 'jobs/s', goal: 'higher' },
      {
        name: 'bytesPerJob',
        value: Math.round((after - before) / N),
        unit: 'B',
        goal: 'record + lists + search',
      },
      {
        name: 'searchBytesPerJob',
        value: Math.round(ixBytes / N),
        unit: 'B',
        goal: 'the search indexes alone',
      },
      { name: 'baseline.p50', value: median(p50.baseline!), unit: 'ms', goal: 'recent list page of 25' },
    ];
    for (const [name] of queries.slice(1)) {
      figures.push({
        name: `${name}.p50`,
        value: median(p50[name]!),
        unit: 'ms',
        baseline: median(p50.baseline!),
        ratio: ratio(name, p50),
        goal: 'lower',
      });
      figures.push({
        name: `${name}.p95`,
        value: median(p95[name]!),
        unit: 'ms',
        baseline: median(p95.baseline!),
        ratio: ratio(name, p95),
        goal: 'lower',
      });
    }
    printFigures('job-search', figures);
  } finally {
    redis.disconnect();
    await stopRedis(server);
  }
}
