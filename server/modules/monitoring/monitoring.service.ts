import type { ConsoleMetricsStore } from '../../platform/metrics/console-store.ts';

export const RANGES = ['1h', '6h', '24h', '7d'] as const;
export type Range = (typeof RANGES)[number];

const RANGE_MS: Record<Range, number> = {
  '1h': 3_600_000,
  '6h': 6 * 3_600_000,
  '24h': 24 * 3_600_000,
  '7d': 7 * 24 * 3_600_000,
};

/** Chart-ready points: request rate (per minute), error rate (%), latency percentiles, cache hit rate, gauges. */
export async function monitoringSeries(store: ConsoleMetricsStore, range: Range, now = Date.now()) {
  const points = await store.series(now - RANGE_MS[range], now);
  const stepMinutes = range === '1h' || range === '6h' ? 1 : 60;
  return points.map((p) => {
    const requests = p.counters['http.requests'] ?? 0;
    const hits = (p.counters['cache.l1.hit'] ?? 0) + (p.counters['cache.l2.hit'] ?? 0);
    const misses = p.counters['cache.miss'] ?? 0;
    const latency = p.quantiles['http.latency'];
    return {
      t: new Date(p.t),
      requestsPerMinute: requests / stepMinutes,
      errorRate: requests ? ((p.counters['http.errors'] ?? 0) / requests) * 100 : 0,
      p50: latency?.p50 ?? null,
      p95: latency?.p95 ?? null,
      p99: latency?.p99 ?? null,
      cacheHitRate: hits + misses ? (hits / (hits + misses)) * 100 : null,
      jobsProcessed: p.counters['jobs.processed'] ?? 0,
      jobsFailed: p.counters['jobs.failed'] ?? 0,
      queueDepth: p.gauges['queue.depth'] ?? null,
      wsConnections: p.gauges['ws.connections'] ?? null,
    };
  });
}
