import { useSubscription } from '@trpc/tanstack-react-query';
import { useState } from 'react';
import { useTRPC, type RouterOutputs } from '../trpc.ts';
import { DataTable } from '../ui/DataTable.tsx';
import { EmptyState } from '../ui/states.tsx';
import { formatDecimal, formatDuration, formatInt } from './format.ts';
import { LiveBadge } from './LiveBadge.tsx';

type MetricsItem = RouterOutputs['ops']['metrics'] extends AsyncIterable<infer T> ? T : never;
type Sample = Extract<MetricsItem['data'], { process: string }>;

const WINDOW_MS = 10 * 60_000;
/** Samples are per process per second; charts get one summed point per bucket. */
const BUCKET_MS = 5_000;

export interface LiveMetrics {
  /** The latest sample of each API process. */
  processes: Sample[];
  connections: { t: number; connections: number }[];
  depth: { t: number; waiting: number }[];
  status: string;
  error: unknown;
}

function bucketed(samples: Sample[]): { t: number; connections: number }[] {
  const buckets = new Map<number, Map<string, number>>();
  for (const s of samples) {
    const t = Math.floor(Date.parse(s.at) / BUCKET_MS) * BUCKET_MS;
    let perProcess = buckets.get(t);
    if (!perProcess) buckets.set(t, (perProcess = new Map()));
    perProcess.set(s.process, s.connections);
  }
  return [...buckets.entries()]
    .sort(([a], [b]) => a - b)
    .map(([t, perProcess]) => ({ t, connections: [...perProcess.values()].reduce((a, b) => a + b, 0) }));
}

/**
 * The `ops.metrics` subscription (one sample per API process per second, replaying the last ten minutes first)
 * and the queue counts from `ops.queues.live`, kept for ten minutes in memory for the live charts.
 */
export function useLiveMetrics(): LiveMetrics {
  const trpc = useTRPC();
  const [samples, setSamples] = useState<Sample[]>([]);
  const [depth, setDepth] = useState<{ t: number; waiting: number }[]>([]);
  const metrics = useSubscription(
    trpc.ops.metrics.subscriptionOptions(
      { historySeconds: 600 },
      {
        onData: ({ data }) => {
          if (!('process' in data)) return;
          setSamples((old) => {
            const cutoff = Date.parse(data.at) - WINDOW_MS;
            const kept = old.length > 4000 ? old.filter((s) => Date.parse(s.at) >= cutoff) : old;
            return [...kept, data];
          });
        },
      },
    ),
  );
  const queues = useSubscription(
    trpc.ops.queues.live.subscriptionOptions(undefined, {
      onData: ({ data }) => {
        const t = data.at.getTime();
        const waiting = data.queues.reduce((n, q) => n + q.waiting + q.delayed, 0);
        setDepth((old) => [...old.filter((p) => p.t >= t - WINDOW_MS), { t, waiting }]);
      },
    }),
  );
  const latest = new Map<string, Sample>();
  for (const s of samples) latest.set(s.process, s);
  return {
    processes: [...latest.values()].sort((a, b) => a.process.localeCompare(b.process)),
    connections: bucketed(samples),
    depth,
    status: metrics.status === 'error' || queues.status === 'error' ? 'error' : metrics.status,
    error: metrics.error ?? queues.error,
  };
}

export function LiveProcesses({ live }: { live: LiveMetrics }) {
  return (
    <section className="card section chart-wide" aria-labelledby="live-processes">
      <div className="section-head">
        <h2 id="live-processes">API processes</h2>
        <LiveBadge status={live.status} error={live.error} />
      </div>
      {live.processes.length === 0 ? (
        <EmptyState title="No samples from API processes yet" />
      ) : (
        <DataTable
          columns={[
            'Process',
            'CPU',
            'Memory (RSS)',
            'Heap',
            'Event loop lag',
            'Connections',
            'Subscriptions',
            'Messages out',
          ]}
        >
          {live.processes.map((p) => (
            <tr key={p.process}>
              <td>
                <code>{p.process}</code>
              </td>
              <td>{formatDecimal(p.cpuPercent)} %</td>
              <td>{formatInt(p.rssMb)} MB</td>
              <td>{formatInt(p.heapUsedMb)} MB</td>
              <td>{formatDuration(p.eventLoopLagMs)}</td>
              <td>{formatInt(p.connections)}</td>
              <td>{formatInt(p.subscriptions)}</td>
              <td>{formatInt(p.messagesOut)}</td>
            </tr>
          ))}
        </DataTable>
      )}
    </section>
  );
}
