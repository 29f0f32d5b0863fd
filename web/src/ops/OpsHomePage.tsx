import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { useTRPC } from '../trpc.ts';
import { Button } from '../ui/Button.tsx';
import { appCodeOf } from '../ui/errors.ts';
import { Field, SelectField } from '../ui/Field.tsx';
import { formatDate } from '../ui/format.ts';
import { Section, Stat } from '../ui/layout.tsx';
import { Pagination } from '../ui/Pagination.tsx';
import { EmptyState, ErrorState, Loading } from '../ui/states.tsx';
import { color, TimeChart } from './charts.tsx';
import { formatDecimal, formatDuration, formatInt } from './format.ts';
import { HealthStrip } from './HealthStrip.tsx';
import { LiveProcesses, useLiveMetrics } from './LiveProcesses.tsx';
import { StaffOnly } from './StaffOnly.tsx';
import { oneOf, useUrlState } from './url.ts';

const PAGE_SIZE = 10;
const RANGES = ['1h', '6h', '24h', '7d'] as const;
type Range = (typeof RANGES)[number];
const RANGE_LABELS: Record<Range, string> = {
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

export function OpsHomePage() {
  const trpc = useTRPC();
  const { get, set } = useUrlState();
  const range = oneOf(get('range'), RANGES, '1h');
  const overview = useQuery(trpc.ops.overview.queryOptions());
  if (appCodeOf(overview.error) === 'STAFF_ONLY') return <StaffOnly />;
  return (
    <div className="page">
      <div className="page-title">
        <h1>Operations</h1>
        <SelectField
          label="Range"
          value={range}
          onChange={(e) =>
            set({ range: e.target.value === '1h' ? null : e.target.value }, { keepPage: true })
          }
        >
          {RANGES.map((r) => (
            <option key={r} value={r}>
              {RANGE_LABELS[r]}
            </option>
          ))}
        </SelectField>
      </div>
      {overview.isPending ? (
        <Loading label="Loading overview…" />
      ) : overview.isError ? (
        <ErrorState error={overview.error} onRetry={() => void overview.refetch()} />
      ) : (
        <div className="stats" aria-label="Overview">
          <Stat label="Organizations" value={overview.data.organizations} />
          <Stat label="Active organizations" value={overview.data.activeOrganizations} />
          <Stat label="Users" value={overview.data.users} />
          <Stat label="Staff" value={overview.data.staff} />
        </div>
      )}
      <HealthStrip />
      <Charts range={range} />
      <Organizations />
    </div>
  );
}

/** Fleet-wide charts for the range; the minute series refreshes every 30 s, the live figures every second. */
function Charts({ range }: { range: Range }) {
  const trpc = useTRPC();
  const longRange = range === '24h' || range === '7d';
  const series = useQuery(
    trpc.ops.monitoring.series.queryOptions(
      { range },
      { placeholderData: keepPreviousData, refetchInterval: 30_000 },
    ),
  );
  const jobMinutes = Math.min(RANGE_MINUTES[range], QUEUE_METRICS_MINUTES);
  const jobs = useQuery(
    trpc.ops.queues.metrics.queryOptions(
      { minutes: jobMinutes },
      { placeholderData: keepPreviousData, refetchInterval: 30_000 },
    ),
  );
  const queues = useQuery(trpc.ops.queues.list.queryOptions(undefined, { refetchInterval: 10_000 }));
  const live = useLiveMetrics();

  if (series.isPending) return <Loading label="Loading charts…" />;
  if (series.isError)
    return (
      <ErrorState
        title="Charts could not be loaded"
        error={series.error}
        onRetry={() => void series.refetch()}
      />
    );

  const points = series.data.map((p) => ({ ...p, t: p.t.getTime() }));
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
    <section aria-label="Charts" className={series.isPlaceholderData ? 'chart-grid is-stale' : 'chart-grid'}>
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
      <TimeChart
        title={jobMinutes < RANGE_MINUTES[range] ? 'Job throughput (last 3 hours)' : 'Job throughput'}
        data={jobPoints}
        series={[
          { key: 'processed', name: 'Processed', color: color(0) },
          { key: 'failed', name: 'Failed', color: color(4) },
        ]}
        format={perMinute}
        longRange={false}
        empty={jobs.isError ? 'Job metrics could not be loaded.' : 'No jobs ran in this range.'}
      />
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

/** Search and page live in the URL, so a result can be linked to and Back works. */
function Organizations() {
  const trpc = useTRPC();
  const { get, set, page } = useUrlState();
  const query = get('q');
  const [draft, setDraft] = useState(query);
  const list = useQuery(
    trpc.ops.organizations.list.queryOptions(
      { query: query || undefined, limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE },
      { placeholderData: keepPreviousData },
    ),
  );

  const onSearch = (e: FormEvent) => {
    e.preventDefault();
    set({ q: draft.trim() });
  };

  const total = list.data?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));

  return (
    <Section title="Organizations" aside={<Link to="/ops/tenants">All tenants</Link>}>
      <form role="search" className="search" onSubmit={onSearch}>
        <Field
          label="Search organizations"
          name="q"
          type="search"
          placeholder="Name or slug"
          maxLength={120}
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
        />
        <Button type="submit" variant="primary">
          Search
        </Button>
        {query ? (
          <Button
            onClick={() => {
              setDraft('');
              set({ q: null });
            }}
          >
            Clear
          </Button>
        ) : null}
      </form>
      {list.isPending ? (
        <Loading label="Loading organizations…" />
      ) : list.isError ? (
        <ErrorState error={list.error} onRetry={() => void list.refetch()} />
      ) : list.data.items.length === 0 && total > 0 ? (
        <EmptyState title={`Page ${page} is past the last page (${pages})`}>
          <Button onClick={() => set({ page: 1 })}>Go to the first page</Button>
        </EmptyState>
      ) : list.data.items.length === 0 ? (
        <EmptyState title={query ? `No organization matches “${query}”` : 'No organizations yet'} />
      ) : (
        <>
          <table className="table" aria-busy={list.isPlaceholderData || undefined}>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Slug</th>
                <th scope="col">Plan</th>
                <th scope="col">Status</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((o) => (
                <tr key={o.id}>
                  <td>
                    <Link to={`/ops/tenants/${o.id}`}>{o.name}</Link>
                  </td>
                  <td>
                    <code>{o.slug}</code>
                  </td>
                  <td className="capitalize">{o.tier}</td>
                  <td>
                    <span className={o.active ? 'badge badge-ok' : 'badge badge-warn'}>
                      {o.active ? 'Active' : 'Suspended'}
                    </span>
                  </td>
                  <td>{formatDate(o.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pagination
            label="Organization pages"
            page={page}
            pageSize={PAGE_SIZE}
            total={total}
            onPage={(p) => set({ page: p })}
          />
        </>
      )}
    </Section>
  );
}
