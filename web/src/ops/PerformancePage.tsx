import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { useTRPC } from '../trpc.ts';
import { DataTable } from '../ui/DataTable.tsx';
import { SelectField } from '../ui/Field.tsx';
import { Section } from '../ui/layout.tsx';
import { formatAgo, formatDuration, formatInt, shortId } from './format.ts';
import { useNow } from './hooks.ts';
import { useUrlState } from './url.ts';
import { QueryView } from '../ui/QueryView.tsx';

const HOURS = [1, 6, 24, 168] as const;
const HOUR_LABELS: Record<number, string> = {
  1: 'Last hour',
  6: 'Last 6 hours',
  24: 'Last 24 hours',
  168: 'Last 7 days',
};
const REFRESH_MS = 15_000;

type TopKind = 'org:req' | 'user:req' | 'org:slow' | 'user:slow';

/** Pulse-style cards: the slowest requests and queries, exceptions, and who sends the most (slow) requests. */
export function PerformancePage() {
  const { get, set } = useUrlState();
  const raw = Number(get('hours'));
  const hours = (HOURS as readonly number[]).includes(raw) ? raw : 24;
  return (
    <div className="page">
      <div className="page-title">
        <h1>Performance</h1>
        <SelectField
          label="Top lists over"
          value={String(hours)}
          onChange={(e) => set({ hours: e.target.value === '24' ? null : e.target.value })}
        >
          {HOURS.map((h) => (
            <option key={h} value={h}>
              {HOUR_LABELS[h]}
            </option>
          ))}
        </SelectField>
      </div>
      <div className="card-grid">
        <TopCard title="Top organizations by requests" kind="org:req" hours={hours} unit="requests" />
        <TopCard title="Top organizations by slow requests" kind="org:slow" hours={hours} unit="slow" />
        <TopCard title="Top users by requests" kind="user:req" hours={hours} unit="requests" />
        <TopCard title="Top users by slow requests" kind="user:slow" hours={hours} unit="slow" />
      </div>
      <SlowRequests />
      <Groups
        kind="slowQueries"
        title="Slow queries"
        empty="No query took longer than the slow-query threshold."
      />
      <Groups kind="exceptions" title="Exceptions" empty="No exceptions recorded." />
    </div>
  );
}

function TopCard({
  title,
  kind,
  hours,
  unit,
}: {
  title: string;
  kind: TopKind;
  hours: number;
  unit: string;
}) {
  const trpc = useTRPC();
  const top = useQuery(
    trpc.ops.monitoring.top.queryOptions(
      { kind, hours, limit: 10 },
      { refetchInterval: REFRESH_MS, placeholderData: keepPreviousData },
    ),
  );
  const ids = (top.data ?? []).map((t) => t.member);
  const isOrg = kind.startsWith('org');
  const names = useQuery(
    trpc.ops.lookup.queryOptions(isOrg ? { organizationIds: ids } : { userIds: ids }, {
      enabled: ids.length > 0,
    }),
  );
  const max = Math.max(1, ...(top.data ?? []).map((t) => t.score));
  return (
    <Section title={title}>
      <QueryView
        query={top}
        loading="Loading…"
        empty={{ when: (data) => data.length === 0, title: 'Nothing recorded in this period' }}
      >
        {(data) => (
          <ol className="bars" aria-label={title}>
            {data.map((t) => {
              const org = names.data?.organizations[t.member];
              const user = names.data?.users[t.member];
              const label = org?.name ?? user?.name ?? shortId(t.member);
              return (
                <li key={t.member}>
                  <span className="bar-label">
                    {isOrg ? (
                      <Link to={`/ops/tenants/${t.member}`}>{label}</Link>
                    ) : (
                      <span title={user?.email}>{label}</span>
                    )}
                  </span>
                  <span className="bar-track" aria-hidden="true">
                    <span className="bar-fill" style={{ width: `${(t.score / max) * 100}%` }} />
                  </span>
                  <span className="bar-value">
                    {formatInt(t.score)} {unit}
                  </span>
                </li>
              );
            })}
          </ol>
        )}
      </QueryView>
    </Section>
  );
}

function SlowRequests() {
  const trpc = useTRPC();
  const now = useNow(10_000);
  const slow = useQuery(
    trpc.ops.monitoring.slowRequests.queryOptions({ limit: 50 }, { refetchInterval: REFRESH_MS }),
  );
  return (
    <Section title="Slow requests">
      <QueryView
        query={slow}
        loading="Loading slow requests…"
        empty={{ when: (data) => data.length === 0, title: 'No request took longer than a second.' }}
      >
        {(data) => (
          <DataTable columns={['Route', 'Status', 'Took', 'Queries', 'Organization', 'When', 'Request id']}>
            {data.map((r) => (
              <tr key={`${r.requestId}-${r.at}`}>
                <td>
                  <code>
                    {r.method} {r.route}
                  </code>
                </td>
                <td>{r.status}</td>
                <td>{formatDuration(r.ms)}</td>
                <td>{r.queries}</td>
                <td>
                  {r.organizationId ? (
                    <Link to={`/ops/tenants/${r.organizationId}`}>
                      <code>{shortId(r.organizationId)}</code>
                    </Link>
                  ) : (
                    '—'
                  )}
                </td>
                <td className="nowrap">{formatAgo(r.at, now)}</td>
                <td>
                  <code className="small">{r.requestId}</code>
                </td>
              </tr>
            ))}
          </DataTable>
        )}
      </QueryView>
    </Section>
  );
}

function Groups({
  kind,
  title,
  empty,
}: {
  kind: 'slowQueries' | 'exceptions';
  title: string;
  empty: string;
}) {
  const trpc = useTRPC();
  const now = useNow(10_000);
  const groups = useQuery(
    trpc.ops.monitoring[kind].queryOptions({ limit: 20 }, { refetchInterval: REFRESH_MS }),
  );
  return (
    <Section title={title}>
      <QueryView
        query={groups}
        loading="Loading…"
        empty={{ when: (data) => data.length === 0, title: empty }}
      >
        {(data) => (
          <div className="table-scroll">
            <table className="table">
              <thead>
                <tr>
                  <th scope="col">{kind === 'slowQueries' ? 'Query' : 'Exception'}</th>
                  <th scope="col">Count</th>
                  {kind === 'slowQueries' ? <th scope="col">Slowest</th> : null}
                  <th scope="col">Last seen</th>
                </tr>
              </thead>
              <tbody>
                {data.map((g) => (
                  <tr key={g.key}>
                    <td className="wrap-anywhere">
                      <code className="small">{g.key}</code>
                      {g.sample ? <div className="muted small">{g.sample}</div> : null}
                    </td>
                    <td>{formatInt(g.count)}</td>
                    {kind === 'slowQueries' ? <td>{formatDuration(g.maxMs)}</td> : null}
                    <td className="nowrap">{formatAgo(g.lastSeen, now)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </QueryView>
    </Section>
  );
}
