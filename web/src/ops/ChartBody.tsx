import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { ChartSeries } from './charts.tsx';
import { formatTick, formatTimestamp } from './format.ts';

/** The recharts part of TimeChart, loaded on demand. */
export default function ChartBody<K extends string>({
  data,
  series,
  format,
  longRange,
  yMax,
  integer,
  sparse,
}: {
  data: ({ t: number } & Partial<Record<K, number | null>>)[];
  series: ChartSeries<K>[];
  format: (v: number) => string;
  longRange: boolean;
  yMax: number | undefined;
  integer: boolean;
  sparse: boolean;
}) {
  return (
    <ResponsiveContainer width="100%" height={180}>
      <LineChart data={data} margin={{ top: 8, right: 12, bottom: 0, left: 0 }}>
        <CartesianGrid strokeDasharray="3 3" stroke="#e3e6ea" />
        <XAxis
          dataKey="t"
          type="number"
          scale="time"
          domain={['dataMin', 'dataMax']}
          tickFormatter={(t: number) => formatTick(t, longRange)}
          minTickGap={40}
          fontSize={12}
        />
        <YAxis
          width={56}
          fontSize={12}
          tickFormatter={(v: number) => format(v)}
          domain={[0, yMax ?? 'auto']}
          allowDecimals={!integer}
        />
        <Tooltip
          labelFormatter={(t) => formatTimestamp(Number(t))}
          formatter={(v) => (typeof v === 'number' ? format(v) : String(v))}
        />
        {series.length > 1 ? <Legend wrapperStyle={{ fontSize: 12 }} /> : null}
        {series.map((s) => (
          <Line
            key={s.key}
            type="monotone"
            dataKey={s.key}
            name={s.name}
            stroke={s.color}
            dot={sparse ? { r: 2.5 } : false}
            strokeWidth={2}
            isAnimationActive={false}
            connectNulls={false}
          />
        ))}
      </LineChart>
    </ResponsiveContainer>
  );
}
