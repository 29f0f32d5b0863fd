import type { HealthCheck } from '../../platform/health/health.ts';
import type { ConsoleMetricsStore } from '../../platform/metrics/console-store.ts';
import { quantileFromBuckets } from '../../platform/metrics/latency-buckets.ts';

/** Reads a metric's current value over a window; null when there is no data (no data never fires an alert). */
export type MetricSource = (windowSeconds: number, now: number) => Promise<number | null>;

export function defaultSources(
  store: ConsoleMetricsStore,
  checks: HealthCheck[],
): Record<string, MetricSource> {
  const measured =
    (key: string): MetricSource =>
    async () => {
      const check = checks.find((c) => c.key === key);
      const out = (await check?.run().catch(() => null)) as { value?: number } | null | undefined;
      return typeof out?.value === 'number' ? out.value : null;
    };
  const gauge =
    (name: string): MetricSource =>
    async () =>
      (await store.latestGauges())[name] ?? null;
  return {
    'http.error_rate': async (w, now) => {
      const { counters } = await store.window(now - w * 1000, now);
      const total = counters['http.requests'] ?? 0;
      return total ? ((counters['http.errors'] ?? 0) / total) * 100 : null;
    },
    'http.p95': async (w, now) => {
      const { buckets } = await store.window(now - w * 1000, now);
      const b = buckets['http.latency'];
      return b ? quantileFromBuckets(b, 0.95) : null;
    },
    'jobs.failed_per_minute': async (w, now) => {
      const { counters } = await store.window(now - w * 1000, now);
      return counters['jobs.failed'] === undefined ? null : counters['jobs.failed'] / Math.max(1, w / 60);
    },
    'queue.depth': gauge('queue.depth'),
    'queue.wait_max': gauge('queue.wait_max_s'),
    'system.disk_percent': measured('disk:utilization'),
    'system.memory_percent': measured('memory:utilization'),
  };
}
