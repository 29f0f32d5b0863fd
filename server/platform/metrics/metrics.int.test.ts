import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeps, type AppDeps } from '../../deps.ts';
import { createOrg, tokenFor, type TestOrg } from '../../test/factories.ts';
import {
  createTestEnv,
  deleteKeys,
  startServer,
  type RunningServer,
  type TestEnv,
} from '../../test/harness.ts';
import { withDbScope } from '../db/context.ts';
import { createLogger } from '../logger/logger.ts';
import { bucketIndex, bucketUpperBound, LATENCY_BUCKETS_MS } from './latency-buckets.ts';

const METRICS_TOKEN = 'metrics-token-for-tests-0123456789';
let env: TestEnv;
let server: RunningServer;
let org: TestOrg;
let token: string;
const logLines: Record<string, unknown>[] = [];

beforeAll(async () => {
  env = await createTestEnv({ METRICS_TOKEN, LOG_LEVEL: 'info' });
  // Re-create deps with a logger whose lines the tests can read.
  await env.deps.close();
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line));
      cb();
    },
  });
  const deps = await createDeps(env.config, {
    logger: createLogger({ level: 'info', pretty: false, stream: sink }),
  });
  env = {
    ...env,
    deps,
    close: async () => (await deps.close(), await deleteKeys(env.config.redisUrl!, env.config.keyPrefix)),
  };
  server = await startServer(env.deps);
  org = await createOrg(env.deps);
  token = await tokenFor(env.deps, org.id, org.owner);
});
afterAll(async () => {
  await server.close();
  await env.close();
});

const get = (path: string, headers: Record<string, string> = {}) => fetch(server.url + path, { headers });

/** A minimal check of the Prometheus text exposition format (version 0.0.4). */
function parseExposition(text: string) {
  const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$/.exec(line);
    if (!m) throw new Error(`not exposition format: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

describe('/metrics', () => {
  it('refuses scrapes without the metrics token', async () => {
    expect((await get('/metrics')).status).toBe(401);
    expect((await get('/metrics', { authorization: 'Bearer wrong-token-wrong-token-00' })).status).toBe(401);
  });

  it('exposes valid Prometheus text with request, query and runtime series, labelled without tenants or raw paths', async () => {
    const auth = { authorization: `Bearer ${token}` };
    for (let i = 0; i < 3; i++) expect((await get('/trpc/organization.current', auth)).status).toBe(200);
    await get(`/trpc/organization.members?input=${encodeURIComponent(JSON.stringify({ json: null }))}`, auth);
    await get(`/trpc/no.such.procedure.${org.id}`, auth);
    await get(`/app/some/${org.id}/path`);
    const res = await get('/metrics', { authorization: `Bearer ${METRICS_TOKEN}` });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const samples = parseExposition(await res.text());
    const names = new Set(samples.map((s) => s.name));
    for (const name of [
      'http_requests_total',
      'http_request_duration_seconds_bucket',
      'db_queries_per_request_bucket',
      'db_query_duration_seconds_bucket',
      'process_cpu_user_seconds_total',
      'nodejs_heap_size_used_bytes',
    ]) {
      expect(names, name).toContain(name);
    }
    const current = samples.find(
      (s) => s.name === 'http_requests_total' && s.labels.route === 'trpc:organization.current',
    );
    expect(current?.value).toBe(3);
    expect(samples.some((s) => s.labels.route === 'trpc:unknown')).toBe(true);
    for (const s of samples) {
      for (const value of Object.values(s.labels)) {
        expect(value).not.toContain(org.id);
        expect(value).not.toContain(org.owner.id);
        expect(value).not.toMatch(/^\/app\//);
      }
    }
  });
});

describe('request monitoring', () => {
  it('logs each request with its id, tenant, user and query count, and echoes X-Request-Id', async () => {
    // A call that reads rows: `organization.current` may be served whole from the cached principal (0 queries).
    const res = await get('/trpc/organization.members', {
      authorization: `Bearer ${token}`,
      'x-request-id': 'trace-me-123',
    });
    expect(res.headers.get('x-request-id')).toBe('trace-me-123');
    await new Promise((r) => setTimeout(r, 50));
    const line = logLines.find((l) => l.msg === 'request' && l.requestId === 'trace-me-123');
    expect(line).toMatchObject({ tenantId: org.id, userId: org.owner.id, status: 200 });
    expect(line?.queries).toBeGreaterThan(0);
  });

  it('counts requests, errors and latency per minute in the console store, with top organizations', async () => {
    const auth = { authorization: `Bearer ${token}` };
    for (let i = 0; i < 5; i++) await get('/trpc/organization.current', auth);
    await env.deps.observability.console.flush();
    const points = await env.deps.observability.console.series(Date.now() - 120_000, Date.now());
    const total = points.reduce((n, p) => n + (p.counters['http.requests'] ?? 0), 0);
    expect(total).toBeGreaterThanOrEqual(5);
    expect(points.some((p) => (p.quantiles['http.latency']?.count ?? 0) > 0)).toBe(true);
    const top = await env.deps.observability.console.topList('org:req', 1);
    expect(top[0]?.member).toBe(org.id);
  });

  it('groups slow queries by their SQL without values', async () => {
    await withDbScope(env.deps.em, undefined, async (em) => {
      await em.getConnection().execute(`select pg_sleep(0.12), 'secret-value-1' as v`);
      await em.getConnection().execute(`select pg_sleep(0.12), 'secret-value-2' as v`);
    });
    await env.deps.observability.console.flush();
    const groups = await env.deps.observability.console.listGroups('slowq');
    const sleep = groups.find((g) => g.key.includes('pg_sleep'));
    expect(sleep?.count).toBe(2);
    expect(sleep?.maxMs).toBeGreaterThanOrEqual(100);
    expect(sleep?.key).not.toContain('secret-value');
  });

  it('groups exceptions by class and location', async () => {
    const obs = env.deps.observability;
    for (let i = 0; i < 3; i++) obs.recordException(new TypeError(`boom ${i}`));
    await obs.console.flush();
    const groups = await obs.console.listGroups('exc');
    const te = groups.find((g) =>
      g.key.startsWith('TypeError @ server/platform/metrics/metrics.int.test.ts'),
    );
    expect(te?.count).toBe(3);
    expect(te?.sample).toMatch(/^boom/);
  });
});

describe('fleet-wide percentiles', () => {
  it('the console p95 of two processes equals the p95 of their raw timings, within one bucket', async () => {
    // Two processes of their own, on a key prefix no other test writes to: the minute holds only these timings.
    const config = { ...env.config, keyPrefix: `${env.config.keyPrefix}p95:` };
    const open = () => createDeps(config, { logger: createLogger({ level: 'silent', pretty: false }) });
    const first: AppDeps = await open();
    const second: AppDeps = await open();
    try {
      // A flush stores into the minute it runs in: keep both flushes and the read inside one minute.
      const intoMinute = Date.now() % 60_000;
      if (intoMinute > 55_000) await new Promise((r) => setTimeout(r, 60_500 - intoMinute));
      const raw: number[] = [];
      const fast = Array.from({ length: 900 }, (_, i) => 2 + (i % 20));
      const slow = Array.from({ length: 100 }, (_, i) => 300 + i * 7);
      const base = { method: 'GET', route: 'test', status: 200, requestId: 'x' };
      for (const ms of fast) first.observability.recordRequest({ ...base, ms, route: 'p95-test' });
      for (const ms of slow) second.observability.recordRequest({ ...base, ms, route: 'p95-test' });
      raw.push(...fast, ...slow);
      const minuteStart = Math.floor(Date.now() / 60_000) * 60_000;
      await Promise.all([first.observability.console.flush(), second.observability.console.flush()]);
      const [point] = await first.observability.console.series(minuteStart, minuteStart);
      expect(point?.quantiles['http.latency']?.count).toBe(raw.length);
      const console95 = point?.quantiles['http.latency']?.p95;
      raw.sort((a, b) => a - b);
      const exact95 = raw[Math.ceil(0.95 * raw.length) - 1]!;
      const exactBucket = bucketIndex(exact95);
      expect(console95).not.toBeNull();
      const consoleBucket = LATENCY_BUCKETS_MS.findIndex((b) => b === console95);
      expect(Math.abs(consoleBucket - exactBucket)).toBeLessThanOrEqual(1);
      expect(console95).toBeGreaterThanOrEqual(bucketUpperBound(exactBucket - 1));
    } finally {
      await Promise.all([first.close(), second.close()]);
      await deleteKeys(config.redisUrl!, config.keyPrefix);
    }
  }, 90_000);
});

describe('/readyz details', () => {
  it('shows anonymous callers only statuses, and the metrics token (or staff) the values', async () => {
    const anon = (await (await get('/readyz')).json()) as {
      status: string;
      checks: Record<string, object[]>;
    };
    expect(anon.status).not.toBe('fail');
    expect(Object.keys(anon.checks)).toEqual(
      expect.arrayContaining([
        'postgres:responseTime',
        'redis:responseTime',
        'disk:utilization',
        'memory:utilization',
      ]),
    );
    expect(anon.checks['postgres:responseTime']?.[0]).not.toHaveProperty('observedValue');
    const full = (await (await get('/readyz', { authorization: `Bearer ${METRICS_TOKEN}` })).json()) as {
      checks: Record<string, { observedValue?: number; observedUnit?: string }[]>;
    };
    expect(full.checks['postgres:responseTime']?.[0]?.observedUnit).toBe('ms');
    expect(full.checks['disk:utilization']?.[0]?.observedUnit).toBe('percent');
  });
});

describe('cache metrics', () => {
  it('reports the cache layers hits and misses to Prometheus and the console', async () => {
    const scope = env.deps.cache.tenant(org.id);
    let runs = 0;
    const factory = async () => ++runs;
    await scope.remember('metrics-probe', factory, { ttl: 60 });
    await scope.remember('metrics-probe', factory, { ttl: 60 });
    await env.deps.observability.console.flush();
    const res = await get('/metrics', { authorization: `Bearer ${METRICS_TOKEN}` });
    const samples = parseExposition(await res.text()).filter((s) => s.name === 'cache_requests_total');
    expect(
      samples.find((s) => s.labels.layer === 'l1' && s.labels.result === 'hit')?.value,
    ).toBeGreaterThanOrEqual(1);
    expect(
      samples.find((s) => s.labels.layer === 'l2' && s.labels.result === 'miss')?.value,
    ).toBeGreaterThanOrEqual(1);
    const points = await env.deps.observability.console.series(Date.now() - 60_000, Date.now());
    expect(points.reduce((n, p) => n + (p.counters['cache.l1.hit'] ?? 0), 0)).toBeGreaterThanOrEqual(1);
  });
});
