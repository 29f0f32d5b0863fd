import { Bar, BarChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { Stats } from './DashboardStats.tsx';

/** The flagged analytics panel's charts, in their own chunk with recharts (see DashboardStats). */
export default function AnalyticsCharts({ stats }: { stats: Stats }) {
  const perDay = new Map<string, number>();
  for (const a of stats.recentActivity) {
    const day = a.createdAt.toISOString().slice(0, 10);
    perDay.set(day, (perDay.get(day) ?? 0) + 1);
  }
  const activity = [...perDay]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([day, events]) => ({ day, events }));
  const people = [
    { name: 'Members', value: stats.users },
    { name: 'Active 30 d', value: stats.activeUsers30d },
    { name: 'Left 30 d', value: stats.membersLost30d },
  ];
  return (
    <div className="columns">
      <figure className="analytics-chart" aria-label="Members and activity">
        <ResponsiveContainer width="100%" height={200}>
          <BarChart data={people}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey="name" />
            <YAxis allowDecimals={false} />
            <Tooltip />
            <Bar dataKey="value" name="People" fill="#3b6fd4" />
          </BarChart>
        </ResponsiveContainer>
      </figure>
      <figure className="analytics-chart" aria-label="Recent events per day">
        <ResponsiveContainer width="100%" height={200}>
          <BarChart data={activity}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey="day" />
            <YAxis allowDecimals={false} />
            <Tooltip />
            <Bar dataKey="events" name="Events" fill="#2e8b57" />
          </BarChart>
        </ResponsiveContainer>
      </figure>
    </div>
  );
}
