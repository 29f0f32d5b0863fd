import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { useTRPC } from '../trpc.ts';
import { Button } from '../ui/Button.tsx';
import { ConfirmDialog } from '../ui/ConfirmDialog.tsx';
import { appCodeOf, messageOf } from '../ui/errors.ts';
import { FormError } from '../ui/Field.tsx';
import { Section } from '../ui/layout.tsx';
import { EmptyState, ErrorState, Loading } from '../ui/states.tsx';
import { AuditTrail } from './AuditTrail.tsx';
import { formatDuration, formatTimestamp } from './format.ts';

/** Pretty-prints a JSON payload preview; the index keeps up to 8 KB, cut with an ellipsis. */
function prettyPayload(payload: string | null): string {
  if (payload === null) return '(none)';
  try {
    return JSON.stringify(JSON.parse(payload), null, 2);
  } catch {
    return payload;
  }
}

/** One job from the index: payload, attempts, timings, error with stack; retry or forget when it failed. */
export function JobPage() {
  const { id = '' } = useParams();
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [forgetting, setForgetting] = useState(false);
  const job = useQuery(
    trpc.ops.jobs.get.queryOptions(
      { id },
      {
        // A job that is still moving is polled, so the page shows it finish.
        refetchInterval: (q) =>
          q.state.data && ['completed', 'cancelled', 'failed'].includes(q.state.data.status) ? 10_000 : 1_500,
      },
    ),
  );
  const refresh = () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: trpc.ops.jobs.get.queryKey({ id }) }),
      queryClient.invalidateQueries({ queryKey: trpc.ops.jobs.failed.queryKey() }),
      queryClient.invalidateQueries({ queryKey: trpc.ops.audit.list.queryKey() }),
    ]);
  const retry = useMutation(trpc.ops.jobs.retry.mutationOptions({ onSuccess: refresh }));
  const forget = useMutation(
    trpc.ops.jobs.forget.mutationOptions({
      onSuccess: async () => {
        await refresh();
        void navigate('/ops/jobs?list=failed');
      },
    }),
  );

  if (job.isPending) return <Loading label="Loading job…" />;
  if (job.isError) {
    return (
      <div className="page">
        <p>
          <Link to="/ops/jobs">← Jobs</Link>
        </p>
        {appCodeOf(job.error) === 'NOT_FOUND' ? (
          <EmptyState title="This job is not in the index">
            <p>Completed jobs are kept for an hour and failed ones for a week; it may have expired.</p>
          </EmptyState>
        ) : (
          <ErrorState error={job.error} onRetry={() => void job.refetch()} />
        )}
      </div>
    );
  }
  const j = job.data;
  const startedFrom = j.availableAt ?? j.enqueuedAt;
  const wait = j.startedAt ? j.startedAt - startedFrom : null;
  return (
    <div className="page">
      <p>
        <Link to="/ops/jobs">← Jobs</Link>
      </p>
      <div className="page-title">
        <h1>{j.name}</h1>
        <span
          className={`badge ${j.status === 'completed' ? 'badge-ok' : j.status === 'failed' ? 'badge-bad' : 'badge-warn'}`}
          role="status"
          aria-label={`Status: ${j.status}`}
        >
          {j.status}
        </span>
      </div>
      {j.status === 'failed' ? (
        <div className="toolbar">
          <Button variant="primary" busy={retry.isPending} onClick={() => retry.mutate({ id: j.id })}>
            Retry
          </Button>
          <Button variant="danger" onClick={() => setForgetting(true)}>
            Forget…
          </Button>
        </div>
      ) : null}
      <FormError>{retry.error ? messageOf(retry.error) : null}</FormError>
      {retry.isSuccess && j.status !== 'failed' ? (
        <p className="notice" role="status">
          Queued again.
        </p>
      ) : null}
      <div className="columns">
        <Section title="Job">
          <dl className="facts facts-grid">
            <dt>Id</dt>
            <dd>
              <code>{j.id}</code>
            </dd>
            <dt>Queue</dt>
            <dd>{j.queue}</dd>
            <dt>Attempts</dt>
            <dd>{j.attempts}</dd>
            <dt>Organization</dt>
            <dd>
              {j.organizationId ? (
                <Link to={`/ops/tenants/${j.organizationId}`}>
                  <code>{j.organizationId}</code>
                </Link>
              ) : (
                'system job'
              )}
            </dd>
            <dt>Tags</dt>
            <dd>{j.tags.length ? j.tags.join(', ') : '—'}</dd>
            <dt>Batch</dt>
            <dd>{j.batchId ? <Link to={`/ops/batches#${j.batchId}`}>{j.batchId}</Link> : '—'}</dd>
            <dt>Worker</dt>
            <dd>{j.worker ? <code>{j.worker}</code> : '—'}</dd>
            <dt>Trace</dt>
            <dd>{j.traceparent ? <code className="small">{j.traceparent}</code> : '—'}</dd>
          </dl>
        </Section>
        <Section title="Timings">
          <dl className="facts facts-grid">
            <dt>Queued</dt>
            <dd>{formatTimestamp(j.enqueuedAt)}</dd>
            <dt>Available</dt>
            <dd>{j.availableAt ? formatTimestamp(j.availableAt) : 'at once'}</dd>
            <dt>Started</dt>
            <dd>{j.startedAt ? formatTimestamp(j.startedAt) : 'not yet'}</dd>
            <dt>Finished</dt>
            <dd>{j.finishedAt ? formatTimestamp(j.finishedAt) : 'not yet'}</dd>
            <dt>Waited</dt>
            <dd>{formatDuration(wait)}</dd>
            <dt>Ran for</dt>
            <dd>{formatDuration(j.runtimeMs)}</dd>
          </dl>
        </Section>
      </div>
      {j.error ? (
        <Section title="Error">
          <pre className="code-block error-block">{j.error}</pre>
        </Section>
      ) : null}
      <Section title="Payload">
        <pre className="code-block">{prettyPayload(j.payload)}</pre>
      </Section>
      <AuditTrail title="Actions on this job" targetType="job" targetId={j.id} />
      <ConfirmDialog
        open={forgetting}
        title="Forget this failed job?"
        confirmLabel="Forget job"
        danger
        busy={forget.isPending}
        error={forget.error ? messageOf(forget.error) : null}
        onConfirm={() => forget.mutate({ id: j.id })}
        onCancel={() => setForgetting(false)}
      >
        <p>It is deleted and will not run again.</p>
      </ConfirmDialog>
    </div>
  );
}
