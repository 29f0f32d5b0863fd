import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useTRPC, type RouterOutputs } from '../../trpc.ts';
import { QueryView } from '../../ui/QueryView.tsx';
import { color, TimeChart } from '../charts.tsx';
import { formatDecimal, formatDuration, formatInt } from '../format.ts';
import { LiveProcesses, useLiveMetrics } from '../LiveProcesses.tsx';
export const RANGES = ['1h', '6h', '24h', '7d'] as const;
export type Range = (typeof RANGES)[number];
export const RANGE_LABELS: Record<Range, string> = {
  '1h': 'Last hour',
  '6h': 'Last 6 hours',
  '24h': 'Last 24 hours',
  '7d': 'Last 7 days',
};
const RANGE_MINUTES: Record<Range, number> = { '1h': 60, '6h': 360, '24h': 1440, '7d': 10080 };
/** The queue metrics store keeps three hours of per-minute job counts. */
const QUEUE_METRICS_MINUTES = 180;

const percent = (v: number) => `${formatDecimal(v)} %`;
const perMinute = (v: number) => `${formatDecimal(v)}/min`;

/** Fleet-wide charts for the range; the minute series refreshes every 30 s, the live figures every second. */
export function Charts({ range }: { range: Range }) {
  const trpc = useTRPC();
  const series = useQuery(
    trpc.ops.monitoring.series.queryOptions(
      { range },
      { placeholderData: keepPreviousData, refetchInterval: 30_000 },
    ),
  );
  return (
    <QueryView query={series} loading="Loading charts…" errorTitle="Charts could not be loaded">
      {(data) => <ChartGrid data={data} range={range} stale={series.isPlaceholderData} />}
    </QueryView>
  );
}

type Series = RouterOutputs['ops']['monitoring']['series'];

function ChartGrid({ data, range, stale }: { data: Series; range: Range; stale: boolean }) {
  const trpc = useTRPC();
  const longRange = range === '24h' || range === '7d';
  const jobMinutes = Math.min(RANGE_MINUTES[range], QUEUE_METRICS_MINUTES);
  const jobs = useQuery(
    trpc.ops.queues.metrics.queryOptions(
      { minutes: jobMinutes },
      { placeholderData: keepPreviousData, refetchInterval: 30_000 },
    ),
  );
  const queues = useQuery(trpc.ops.queues.list.queryOptions(undefined, { refetchInterval: 10_000 }));
  const live = useLiveMetrics();

  const points = data.map((p) => ({ ...p, t: p.t.getTime() }));
  const throughput = new Map<number, { t: number; processed: number; failed: number }>();
  for (const type of jobs.data ?? []) {
    for (const m of type.minutes) {
      const point = throughput.get(m.minute) ?? { t: m.minute, processed: 0, failed: 0 };
      point.processed += m.processed;
      point.failed += m.failed;
      throughput.set(m.minute, point);
    }
  }
  const jobPoints = [...throughput.values()].sort((a, b) => a.t - b.t);
  const waitingNow = queues.data?.reduce((n, q) => n + q.waiting + q.delayed, 0);
  const hasDepthGauge = points.some((p) => p.queueDepth !== null);
  const hasSocketGauge = points.some((p) => p.wsConnections !== null);

  return (
    <section aria-label="Charts" className={stale ? 'chart-grid is-stale' : 'chart-grid'}>
      <TimeChart
        title="Requests"
        data={points}
        series={[{ key: 'requestsPerMinute', name: 'Requests', color: color(0) }]}
        format={perMinute}
        longRange={longRange}
      />
      <TimeChart
        title="Error rate (5xx)"
        data={points}
        series={[{ key: 'errorRate', name: 'Errors', color: color(4) }]}
        format={percent}
        longRange={longRange}
      />
      <TimeChart
        title="Latency"
        data={points}
        series={[
          { key: 'p50', name: 'p50', color: color(0) },
          { key: 'p95', name: 'p95', color: color(1) },
          { key: 'p99', name: 'p99', color: color(2) },
        ]}
        format={formatDuration}
        longRange={longRange}
      />
      <TimeChart
        title="Cache hit rate"
        data={points}
        series={[{ key: 'cacheHitRate', name: 'Hit rate', color: color(3) }]}
        format={percent}
        longRange={longRange}
        yMax={100}
        empty="No cache reads in this range."
      />
      <QueryView query={jobs} loading="Loading job metrics…" errorTitle="Job metrics could not be loaded">
        {() => (
          <TimeChart
            title={jobMinutes < RANGE_MINUTES[range] ? 'Job throughput (last 3 hours)' : 'Job throughput'}
            data={jobPoints}
            series={[
              { key: 'processed', name: 'Processed', color: color(0) },
              { key: 'failed', name: 'Failed', color: color(4) },
            ]}
            format={perMinute}
            longRange={false}
            empty="No jobs ran in this range."
          />
        )}
      </QueryView>
      {hasDepthGauge ? (
        <TimeChart
          title="Queue depth"
          data={points}
          series={[{ key: 'queueDepth', name: 'Waiting', color: color(1) }]}
          format={formatInt}
          integer
          longRange={longRange}
        />
      ) : (
        <TimeChart
          title="Queue depth (live)"
          data={live.depth}
          series={[{ key: 'waiting', name: 'Waiting', color: color(1) }]}
          format={formatInt}
          integer
          empty={
            waitingNow === undefined
              ? 'Waiting for the first queue sample…'
              : `${formatInt(waitingNow)} jobs waiting or delayed now.`
          }
        />
      )}
      {hasSocketGauge ? (
        <TimeChart
          title="WebSocket connections"
          data={points}
          series={[{ key: 'wsConnections', name: 'Connections', color: color(2) }]}
          format={formatInt}
          integer
          longRange={longRange}
        />
      ) : (
        <TimeChart
          title="WebSocket connections (live, 10 min)"
          data={live.connections}
          series={[{ key: 'connections', name: 'Connections', color: color(2) }]}
          format={formatInt}
          integer
          empty="Waiting for the first sample from the API processes…"
        />
      )}
      <LiveProcesses live={live} />
    </section>
  );
}
