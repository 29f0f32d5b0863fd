import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import { lazy, Suspense } from 'react';
import { useTRPC, type RouterOutputs } from '../trpc.ts';
import { formatDateTime } from '../ui/format.ts';
import { Section, Stat } from '../ui/layout.tsx';
import { QueryView } from '../ui/QueryView.tsx';
import { Loading } from '../ui/states.tsx';

// recharts is the largest part of the SPA: it loads only when the flagged panel is shown, not with every dashboard.
const AnalyticsCharts = lazy(() => import('./AnalyticsCharts.tsx'));

export type Stats = RouterOutputs['dashboard']['stats'];

/** The flag that gates the analytics panel (defined in the flags module; on per organization by override). */
export const NEW_ANALYTICS_FLAG = 'new-analytics';

const money = (cents: number, currency: string) =>
  new Intl.NumberFormat(undefined, { style: 'currency', currency: currency.toUpperCase() }).format(
    cents / 100,
  );

export function DashboardStats() {
  const trpc = useTRPC();
  const stats = useQuery(trpc.dashboard.stats.queryOptions());
  return (
    <QueryView query={stats} loading="Loading statistics…">
      {(s) => <StatsBody s={s} />}
    </QueryView>
  );
}

function StatsBody({ s }: { s: Stats }) {
  return (
    <>
      <div className="stats" aria-label="Statistics" role="region">
        <Stat label="Members" value={s.users.toLocaleString()} />
        <Stat label="Active in 30 days" value={s.activeUsers30d.toLocaleString()} />
        <Stat label="Monthly revenue" value={money(s.mrrCents, s.currency)} />
        <Stat label="Churn, 30 days" value={`${(s.churn30d * 100).toFixed(1)} %`} />
      </div>
      <p className="muted small">Figures as of {formatDateTime(s.computedAt)} (cached).</p>
      <NewAnalytics stats={s} />
    </>
  );
}

/** Shown only while the flag is on for this organization; a flag change shows or hides it without a reload. */
function NewAnalytics({ stats }: { stats: Stats }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const flags = useQuery(trpc.flags.evaluateAll.queryOptions());
  useSubscription(
    trpc.flags.onChange.subscriptionOptions(undefined, {
      onData: ({ data }) => queryClient.setQueryData(trpc.flags.evaluateAll.queryKey(), data.flags),
    }),
  );
  if (flags.data?.[NEW_ANALYTICS_FLAG]?.value !== true) return null;

  return (
    <Section title="New analytics" aside={<span className="badge">Preview</span>}>
      <Suspense fallback={<Loading label="Loading charts…" />}>
        <AnalyticsCharts stats={stats} />
      </Suspense>
    </Section>
  );
}
