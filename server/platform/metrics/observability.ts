import type { RedisClient } from '../redis/redis.ts';
import { hashTag } from '../redis/slots.ts';
import { scrubString } from '../errors/scrub.ts';
import type { ErrorReporter } from '../errors/sentry.ts';
import { ConsoleMetricsStore } from './console-store.ts';
import { PrometheusMetrics, type ReplicaGaugeState } from './prometheus.ts';
import { currentRequestStats } from './request-stats.ts';
import { normalizeSql, statementKind } from './sql-normalize.ts';

export const SLOW_REQUEST_MS = 1000;
export const SLOW_QUERY_MS = 100;

export interface RequestRecord {
  method: string;
  route: string;
  status: number;
  ms: number;
  requestId: string;
  organizationId?: string | undefined;
  userId?: string | undefined;
}

/** One process's metrics: Prometheus for scraping, the Redis console store for the fleet-wide console. */
export class Observability {
  readonly prom = new PrometheusMetrics();
  readonly console: ConsoleMetricsStore;

  constructor(
    redis: RedisClient,
    keyspace: string,
    private readonly reporter: ErrorReporter | null = null,
  ) {
    // The console flushes and reads many keys per pipeline: on a Redis Cluster a pipeline must stay on one node,
    // so the console's few, bounded keys share one hash tag (ADR 0014).
    this.console = new ConsoleMetricsStore(redis, `${keyspace}${hashTag('console')}:`);
  }

  /** Called by the ORM for every executed statement. */
  recordQuery(sql: string, tookMs: number): void {
    const stats = currentRequestStats();
    if (stats) {
      stats.queries += 1;
      stats.queryMs += tookMs;
    }
    this.prom.dbQueryDuration.observe({ kind: statementKind(sql) }, tookMs / 1000);
    if (tookMs >= SLOW_QUERY_MS) this.console.group('slowq', normalizeSql(sql), tookMs);
  }

  recordRequest(r: RequestRecord): void {
    const labels = { method: r.method, route: r.route, status_code: String(r.status) };
    this.prom.httpRequests.inc(labels);
    this.prom.httpDuration.observe(labels, r.ms / 1000);
    const stats = currentRequestStats();
    this.prom.dbQueriesPerRequest.observe({ route: r.route }, stats?.queries ?? 0);
    this.console.count('http.requests');
    if (r.status >= 500) this.console.count('http.errors');
    else if (r.status >= 400) this.console.count('http.client_errors');
    this.console.observe('http.latency', r.ms);
    if (r.organizationId) this.console.top('org:req', r.organizationId);
    if (r.userId) this.console.top('user:req', r.userId);
    if (r.ms >= SLOW_REQUEST_MS) {
      if (r.organizationId) this.console.top('org:slow', r.organizationId);
      if (r.userId) this.console.top('user:slow', r.userId);
      this.console.slowRequest({
        at: Date.now(),
        method: r.method,
        route: r.route,
        status: r.status,
        ms: Math.round(r.ms),
        queries: stats?.queries ?? 0,
        rssMb: Math.round(process.memoryUsage.rss() / 1048576),
        requestId: r.requestId,
        organizationId: r.organizationId,
        userId: r.userId,
      });
    }
  }

  /**
   * Reports a cache's own hit/miss counters (cumulative) as per-layer deltas to Prometheus and the console.
   * A full miss is an L2 miss (the L1 miss that precedes it is counted as l1 miss).
   */
  trackCache(
    stats: () => {
      l1: { hits: number; misses: number };
      l2: { hits: number; misses: number };
      redisErrors: number;
    },
  ) {
    let last = { l1h: 0, l1m: 0, l2h: 0, l2m: 0, err: 0 };
    this.console.addSampler(() => {
      const s = stats();
      const now = { l1h: s.l1.hits, l1m: s.l1.misses, l2h: s.l2.hits, l2m: s.l2.misses, err: s.redisErrors };
      const d = {
        l1h: now.l1h - last.l1h,
        l1m: now.l1m - last.l1m,
        l2h: now.l2h - last.l2h,
        l2m: now.l2m - last.l2m,
        err: now.err - last.err,
      };
      last = now;
      if (d.l1h) this.prom.cacheRequests.inc({ layer: 'l1', result: 'hit' }, d.l1h);
      if (d.l1m) this.prom.cacheRequests.inc({ layer: 'l1', result: 'miss' }, d.l1m);
      if (d.l2h) this.prom.cacheRequests.inc({ layer: 'l2', result: 'hit' }, d.l2h);
      if (d.l2m) this.prom.cacheRequests.inc({ layer: 'l2', result: 'miss' }, d.l2m);
      if (d.err) this.prom.cacheRequests.inc({ layer: 'l2', result: 'error' }, d.err);
      this.console.count('cache.l1.hit', d.l1h);
      this.console.count('cache.l2.hit', d.l2h);
      this.console.count('cache.miss', d.l2m);
    });
  }

  /** Each read replica's lag and rotation, read from its last health check at every scrape. */
  trackReplicas(states: () => readonly ReplicaGaugeState[]) {
    this.prom.replicaStates = states;
  }

  /** Exceptions grouped by class and the first stack frame in Keel's own code. */
  recordException(err: unknown): void {
    const e = err instanceof Error ? err : new Error(String(err));
    const frame =
      (e.stack ?? '')
        .split('\n')
        .slice(1)
        .map((l) => l.trim())
        .find((l) => l.includes('/server/') && !l.includes('node_modules')) ?? 'unknown';
    const location = frame.replace(/^at\s+/, '').replace(/^.*?\/(server\/[^):]+:\d+).*$/, '$1');
    // The message is shown in the console: credentials quoted in it (a link, a header) are removed, as for Sentry.
    this.console.group('exc', `${e.name} @ ${location}`, 0, scrubString(e.message));
    this.reporter?.capture(e);
  }

  async stop(): Promise<void> {
    await this.reporter?.flush();
    await this.console.stop();
  }
}
