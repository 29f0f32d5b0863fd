import { lazy, Suspense, useId } from 'react';

export interface ChartSeries<K extends string> {
  key: K;
  name: string;
  color: string;
}

// recharts is most of the console's weight: it loads with the first chart, not with the tenant app.
const ChartBody = lazy(() => import('./ChartBody.tsx'));

const COLORS = ['#2452c9', '#c2410c', '#7c3aed', '#0f766e', '#b42318'];
export const color = (i: number) => COLORS[i % COLORS.length]!;

/**
 * One time series card: a title with the latest value (what an operator reads first, and what a screen reader
 * gets), then the chart. Points are `{ t: epoch ms, [key]: number | null }`; null leaves a gap.
 */
export function TimeChart<K extends string>({
  title,
  data,
  series,
  format,
  longRange = false,
  empty,
  yMax,
  integer = false,
}: {
  title: string;
  data: ({ t: number } & Partial<Record<K, number | null>>)[];
  series: ChartSeries<K>[];
  format: (v: number) => string;
  longRange?: boolean;
  /** Shown instead of a flat chart when no series has a single value in range. */
  empty?: string;
  yMax?: number;
  /** Counts: no fractional ticks. */
  integer?: boolean;
}) {
  const titleId = useId();
  const latest = series.map((s) => {
    for (let i = data.length - 1; i >= 0; i--) {
      const v = data[i]![s.key];
      if (typeof v === 'number') return { ...s, value: v };
    }
    return { ...s, value: null };
  });
  const hasData = latest.some((l) => l.value !== null);
  // A line needs two neighbouring points; sparse series (a fresh install, gaps) get dots so lone points show.
  const sparse = series.some((s) => data.filter((d) => typeof d[s.key] === 'number').length < 30);
  return (
    <figure className="card chart" aria-labelledby={titleId}>
      <figcaption className="chart-head">
        <h3 id={titleId}>{title}</h3>
        <span className="chart-now" data-testid="latest">
          {hasData
            ? latest
                .filter((l) => l.value !== null)
                .map((l) => (series.length > 1 ? `${l.name} ${format(l.value!)}` : format(l.value!)))
                .join(' · ')
            : 'no data'}
        </span>
      </figcaption>
      {hasData ? (
        <div className="chart-body" aria-hidden="true">
          <Suspense fallback={<div className="chart-placeholder" />}>
            <ChartBody
              data={data}
              series={series}
              format={format}
              longRange={longRange}
              yMax={yMax}
              integer={integer}
              sparse={sparse}
            />
          </Suspense>
        </div>
      ) : (
        <p className="state muted">{empty ?? 'Nothing recorded in this range yet.'}</p>
      )}
    </figure>
  );
}
