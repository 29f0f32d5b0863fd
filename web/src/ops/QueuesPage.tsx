import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import { useState } from 'react';
import { Link } from 'react-router';
import { QUEUES } from '../../../shared/schemas/jobs.ts';
import { useTRPC, type RouterOutputs } from '../trpc.ts';
import { Button } from '../ui/Button.tsx';
import { ConfirmDialog } from '../ui/ConfirmDialog.tsx';
import { DataTable } from '../ui/DataTable.tsx';
import { messageOf } from '../ui/errors.ts';
import { FormError, SelectField } from '../ui/Field.tsx';
import { Section } from '../ui/layout.tsx';
import { AuditTrail } from './AuditTrail.tsx';
import { color, TimeChart } from './charts.tsx';
import { formatAgo, formatDecimal, formatDuration, formatInt } from './format.ts';
import { useNow } from './hooks.ts';
import { LiveBadge } from './LiveBadge.tsx';
import { oneOf, useUrlState } from './url.ts';
import { QueryView } from '../ui/QueryView.tsx';
import { QueueTenants } from './jobs/QueueTenants.tsx';
import { useInvalidate } from '../invalidate.ts';

type QueueRow = RouterOutputs['ops']['queues']['list'][number];
type WorkerRow = RouterOutputs['ops']['workers']['list'][number];

export function QueuesPage() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const queues = useQuery(trpc.ops.queues.list.queryOptions());
  const workers = useQuery(trpc.ops.workers.list.queryOptions());
  // Every two seconds the server pushes counts and workers; they replace the cached answers of both queries.
  const live = useSubscription(
    trpc.ops.queues.live.subscriptionOptions(undefined, {
      onData: ({ data }) => {
        queryClient.setQueryData(trpc.ops.queues.list.queryKey(), data.queues);
        queryClient.setQueryData(trpc.ops.workers.list.queryKey(), data.workers);
      },
    }),
  );

  return (
    <div className="page">
      <div className="page-title">
        <h1>Queues</h1>
        <LiveBadge status={live.status} error={live.error} />
      </div>
      <Section title="Queues">
        <QueryView
          query={queues}
          loading="Loading queues…"
          empty={{ when: (data) => data.length === 0, title: 'No queues are configured' }}
        >
          {(data) => <QueueTable queues={data} />}
        </QueryView>
      </Section>
      <QueueCharts />
      <QueueTenants />
      <Section title="Workers">
        <QueryView
          query={workers}
          loading="Loading workers…"
          empty={{
            when: (data) => data.length === 0,
            title: 'No worker is running',
            children: (
              <>
                <p>
                  Start one with <code>keel work</code>; jobs wait on their queues until then.
                </p>
              </>
            ),
          }}
        >
          {(data) => <Workers workers={data} />}
        </QueryView>
      </Section>
      <AuditTrail title="Queue and worker actions" targetType="queue" />
    </div>
  );
}

function QueueTable({ queues }: { queues: QueueRow[] }) {
  const trpc = useTRPC();
  const invalidate = useInvalidate();
  const refresh = () => invalidate(trpc.ops.queues);
  const pause = useMutation(trpc.ops.queues.pause.mutationOptions({ onSuccess: refresh }));
  const resume = useMutation(trpc.ops.queues.resume.mutationOptions({ onSuccess: refresh }));
  const failed = pause.error ?? resume.error;
  return (
    <>
      <FormError>{failed ? messageOf(failed) : null}</FormError>
      <div className="table-scroll">
        <table className="table numeric">
          <thead>
            <tr>
              <th scope="col">Queue</th>
              <th scope="col">Status</th>
              <th scope="col">Waiting</th>
              <th scope="col">Active</th>
              <th scope="col">Delayed</th>
              <th scope="col">Failed</th>
              <th scope="col">Jobs/min</th>
              <th scope="col">Failed/min</th>
              <th scope="col">Wait p95</th>
              <th scope="col">Runtime p95</th>
              <th scope="col">Running / slots</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {queues.map((q) => (
              <tr key={q.queue}>
                <th scope="row">{q.queue}</th>
                <td>
                  <span className={q.paused ? 'badge badge-warn' : 'badge badge-ok'}>
                    {q.paused ? 'Paused' : 'Running'}
                  </span>
                </td>
                <td>{formatInt(q.waiting)}</td>
                <td>{formatInt(q.active)}</td>
                <td>{formatInt(q.delayed)}</td>
                <td>
                  {q.failed ? (
                    <Link to={`/ops/jobs?list=failed&queue=${q.queue}`}>{formatInt(q.failed)}</Link>
                  ) : (
                    0
                  )}
                </td>
                <td>{formatInt(q.jobsPerMinute)}</td>
                <td>{formatInt(q.failedPerMinute)}</td>
                <td>{formatDuration(q.waitP95Ms)}</td>
                <td>{formatDuration(q.runtimeP95Ms)}</td>
                <td>
                  {q.running} / {q.concurrency}
                </td>
                <td>
                  {q.paused ? (
                    <Button
                      onClick={() => resume.mutate({ queue: q.queue })}
                      busy={resume.isPending && resume.variables.queue === q.queue}
                      aria-label={`Continue ${q.queue}`}
                    >
                      Continue
                    </Button>
                  ) : (
                    <Button
                      onClick={() => pause.mutate({ queue: q.queue })}
                      busy={pause.isPending && pause.variables.queue === q.queue}
                      aria-label={`Pause ${q.queue}`}
                    >
                      Pause
                    </Button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

/** Throughput, wait and runtime per minute over the last hour, for all queues or one (kept in the URL). */
function QueueCharts() {
  const trpc = useTRPC();
  const { get, set } = useUrlState();
  const queue = oneOf(get('queue'), ['', ...QUEUES] as const, '');
  const metrics = useQuery(
    trpc.ops.queues.metrics.queryOptions(
      { minutes: 60, queue: queue || undefined },
      { placeholderData: keepPreviousData, refetchInterval: 15_000 },
    ),
  );
  const byMinute = new Map<
    number,
    { t: number; processed: number; failed: number; waitP95: number; runtimeP95: number; waitAvg: number }
  >();
  for (const type of metrics.data ?? []) {
    for (const m of type.minutes) {
      const p = byMinute.get(m.minute) ?? {
        t: m.minute,
        processed: 0,
        failed: 0,
        waitP95: 0,
        runtimeP95: 0,
        waitAvg: 0,
      };
      const total = m.processed + m.failed;
      const before = p.processed + p.failed;
      // Averages weighted by jobs; percentiles across types are approximated by the worst type's.
      p.waitAvg = before + total ? (p.waitAvg * before + m.wait.avg * total) / (before + total) : 0;
      p.processed += m.processed;
      p.failed += m.failed;
      p.waitP95 = Math.max(p.waitP95, m.wait.p95);
      p.runtimeP95 = Math.max(p.runtimeP95, m.runtime.p95);
      byMinute.set(m.minute, p);
    }
  }
  const points = [...byMinute.values()].sort((a, b) => a.t - b.t);
  return (
    <Section
      title="Throughput and wait, last hour"
      aside={
        <SelectField
          label="Queue"
          value={queue}
          onChange={(e) => set({ queue: e.target.value }, { keepPage: true })}
        >
          <option value="">All queues</option>
          {QUEUES.map((q) => (
            <option key={q} value={q}>
              {q}
            </option>
          ))}
        </SelectField>
      }
    >
      <QueryView query={metrics} loading="Loading queue metrics…">
        {() => (
          <div className="chart-grid">
            <TimeChart
              title="Throughput"
              data={points}
              series={[
                { key: 'processed', name: 'Processed', color: color(0) },
                { key: 'failed', name: 'Failed', color: color(4) },
              ]}
              format={(v) => `${formatDecimal(v)}/min`}
              empty="No jobs ran in the last hour."
            />
            <TimeChart
              title="Wait time"
              data={points}
              series={[
                { key: 'waitAvg', name: 'Average', color: color(0) },
                { key: 'waitP95', name: 'p95', color: color(1) },
              ]}
              format={formatDuration}
              empty="No jobs ran in the last hour."
            />
            <TimeChart
              title="Runtime p95"
              data={points}
              series={[{ key: 'runtimeP95', name: 'p95', color: color(2) }]}
              format={formatDuration}
              empty="No jobs ran in the last hour."
            />
          </div>
        )}
      </QueryView>
    </Section>
  );
}

function Workers({ workers }: { workers: WorkerRow[] }) {
  const trpc = useTRPC();
  const now = useNow(5_000);
  const [confirming, setConfirming] = useState(false);
  const terminate = useMutation(
    trpc.ops.workers.terminate.mutationOptions({ onSuccess: () => setConfirming(false) }),
  );
  return (
    <>
      <div className="toolbar">
        <Button variant="danger" onClick={() => setConfirming(true)}>
          Restart all workers…
        </Button>
        {terminate.isSuccess ? (
          <p className="notice" role="status">
            Workers were asked to finish their jobs and exit; their process manager starts new ones.
          </p>
        ) : null}
      </div>
      <ConfirmDialog
        open={confirming}
        title="Restart all workers?"
        confirmLabel="Restart workers"
        danger
        busy={terminate.isPending}
        error={terminate.error ? messageOf(terminate.error) : null}
        onConfirm={() => terminate.mutate()}
        onCancel={() => setConfirming(false)}
      >
        <p>
          Every worker finishes its running jobs and exits, like <code>keel queue:terminate</code>. Use it
          after a deploy; jobs wait on their queues until the new workers start.
        </p>
      </ConfirmDialog>
      <DataTable
        columns={[
          'Worker',
          'Status',
          'Supervisors and queues (running / slots)',
          'Processed',
          'Failed',
          'Memory',
          'Seen',
        ]}
      >
        {workers.map((w) => (
          <tr key={w.id}>
            <td>
              <code>{w.host}</code> pid {w.pid}
              {w.leader ? <span className="badge"> leader</span> : null}
            </td>
            <td>
              <span className={w.status === 'running' ? 'badge badge-ok' : 'badge badge-warn'}>
                {w.status}
              </span>
            </td>
            <td>
              {w.supervisors.map((s) => (
                <div key={s.name}>
                  <strong>{s.name}</strong> <span className="muted small">({s.balance})</span>:{' '}
                  {s.queues
                    .map((q) => `${q.queue} ${q.running}/${q.concurrency}${q.paused ? ' paused' : ''}`)
                    .join(', ')}
                </div>
              ))}
            </td>
            <td>{formatInt(w.processed)}</td>
            <td>{formatInt(w.failed)}</td>
            <td>{formatInt(w.memoryMb)} MB</td>
            <td>{formatAgo(w.lastSeenAt, now)}</td>
          </tr>
        ))}
      </DataTable>
    </>
  );
}
