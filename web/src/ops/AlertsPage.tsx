import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useTRPC, type RouterOutputs } from '../trpc.ts';
import { DataTable } from '../ui/DataTable.tsx';
import { SelectField } from '../ui/Field.tsx';
import { Section } from '../ui/layout.tsx';
import { PagedQueryView } from '../ui/PagedQueryView.tsx';
import { formatAgo, formatDecimal, formatDuration, formatTimestamp } from './format.ts';
import { useNow } from './hooks.ts';
import { useUrlState } from './url.ts';
import { QueryView } from '../ui/QueryView.tsx';

type RuleStatus = RouterOutputs['ops']['alerts']['statuses'][number];
const PAGE_SIZE = 25;
const ORDER: Record<string, number> = { firing: 0, pending: 1, inactive: 2 };

function StateBadge({ s }: { s: RuleStatus }) {
  const tone = s.state === 'firing' ? 'badge-bad' : s.state === 'pending' ? 'badge-warn' : 'badge-ok';
  const label = s.state === 'inactive' ? 'OK' : `${s.state}${s.severity ? ` · ${s.severity}` : ''}`;
  return <span className={`badge ${tone}`}>{label}</span>;
}

export function AlertsPage() {
  const trpc = useTRPC();
  const now = useNow(10_000);
  const statuses = useQuery(trpc.ops.alerts.statuses.queryOptions(undefined, { refetchInterval: 15_000 }));
  const rules = [...(statuses.data ?? [])].sort((a, b) => (ORDER[a.state] ?? 3) - (ORDER[b.state] ?? 3));
  const active = rules.filter((r) => r.state !== 'inactive');
  return (
    <div className="page">
      <div className="page-title">
        <h1>Alerts</h1>
        {statuses.data ? (
          <span className={active.length ? 'badge badge-bad' : 'badge badge-ok'} role="status">
            {active.length ? `${active.length} firing or pending` : 'All clear'}
          </span>
        ) : null}
      </div>
      <Section title="Rules and states">
        <QueryView
          query={statuses}
          loading="Loading alert rules…"
          empty={{ when: (data) => data.length === 0, title: 'No alert rules are configured' }}
        >
          {() => (
            <DataTable
              columns={[
                'Rule',
                'State',
                'Value',
                'Warn / critical',
                'Window · for · keep firing',
                'Channels',
                'Since',
              ]}
            >
              {rules.map((s) => (
                <tr key={s.rule.id} aria-label={s.rule.summary}>
                  <td>
                    {s.rule.summary}
                    <div className="muted small">
                      <code>{s.rule.id}</code> on <code>{s.rule.metric}</code>
                      {s.rule.runbook ? <> · runbook {s.rule.runbook}</> : null}
                    </div>
                  </td>
                  <td>
                    <StateBadge s={s} />
                  </td>
                  <td>{s.value === null ? '—' : formatDecimal(s.value)}</td>
                  <td>
                    {formatDecimal(s.rule.warn)} / {formatDecimal(s.rule.critical)}
                  </td>
                  <td>
                    {formatDuration(s.rule.windowSeconds * 1000)} · {formatDuration(s.rule.forSeconds * 1000)}{' '}
                    · {formatDuration(s.rule.keepFiringForSeconds * 1000)}
                  </td>
                  <td>{s.rule.channels.join(', ')}</td>
                  <td className="nowrap">{s.since ? formatAgo(s.since, now) : '—'}</td>
                </tr>
              ))}
            </DataTable>
          )}
        </QueryView>
      </Section>
      <History rules={rules.map((r) => ({ id: r.rule.id, summary: r.rule.summary }))} />
    </div>
  );
}

const KIND_LABELS: Record<string, string> = {
  pending: 'Pending',
  fire: 'Fired',
  escalate: 'Escalated',
  resolve: 'Resolved',
};

function History({ rules }: { rules: { id: string; summary: string }[] }) {
  const trpc = useTRPC();
  const { get, set, page } = useUrlState();
  const rule = get('rule');
  const history = useQuery(
    trpc.ops.alerts.history.queryOptions(
      { ruleId: rule || undefined, limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE },
      { placeholderData: keepPreviousData, refetchInterval: 30_000 },
    ),
  );
  return (
    <Section
      title="History"
      aside={
        <SelectField label="Rule" value={rule} onChange={(e) => set({ rule: e.target.value })}>
          <option value="">All rules</option>
          {rules.map((r) => (
            <option key={r.id} value={r.id}>
              {r.summary}
            </option>
          ))}
        </SelectField>
      }
    >
      <PagedQueryView
        query={history}
        loading="Loading alert history…"
        none="No alert has fired yet"
        label="Alert history pages"
        page={page}
        pageSize={PAGE_SIZE}
        onPage={(p) => set({ page: p })}
      >
        {(data) => (
          <DataTable
            columns={['When', 'Rule', 'Change', 'Value', 'Notified']}
            busy={history.isPlaceholderData}
          >
            {data.items.map((e) => (
              <tr key={e.id}>
                <td className="nowrap">{formatTimestamp(e.at)}</td>
                <td>
                  {e.summary}
                  <div className="muted small">
                    <code>{e.ruleId}</code>
                  </div>
                </td>
                <td>
                  <span
                    className={
                      e.kind === 'resolve'
                        ? 'badge badge-ok'
                        : e.kind === 'pending'
                          ? 'badge badge-warn'
                          : 'badge badge-bad'
                    }
                  >
                    {KIND_LABELS[e.kind] ?? e.kind}
                    {e.severity ? ` · ${e.severity}` : ''}
                  </span>
                </td>
                <td>{e.value === null || e.value === undefined ? '—' : formatDecimal(Number(e.value))}</td>
                <td>
                  {e.delivered.join(', ') || '—'}
                  {e.failed.length ? <div className="field-error">failed: {e.failed.join(', ')}</div> : null}
                </td>
              </tr>
            ))}
          </DataTable>
        )}
      </PagedQueryView>
    </Section>
  );
}
