import { useState } from 'react';
import { Link, useNavigate } from 'react-router';
import type { RouterOutputs } from '../../trpc.ts';
import { Button } from '../../ui/Button.tsx';
import { ConfirmDialog } from '../../ui/ConfirmDialog.tsx';
import { messageOf } from '../../ui/errors.ts';
import { FormError } from '../../ui/Field.tsx';
import { Section } from '../../ui/layout.tsx';
import { AuditTrail } from '../AuditTrail.tsx';
import { formatDuration, formatTimestamp } from '../format.ts';
import { useJobActions } from './useJobs.ts';

type Job = RouterOutputs['ops']['jobs']['get'];

/** Pretty-prints a JSON payload preview; the index keeps up to 8 KB, cut with an ellipsis. */
function prettyPayload(payload: string | null): string {
  if (payload === null) return '(none)';
  try {
    return JSON.stringify(JSON.parse(payload), null, 2);
  } catch {
    return payload;
  }
}

/** One job: payload, attempts, timings, error with stack; retry or forget when it failed. */
export function JobDetail({ j }: { j: Job }) {
  const navigate = useNavigate();
  const [forgetting, setForgetting] = useState(false);
  const { retry, forget } = useJobActions();
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
        onConfirm={() =>
          forget.mutate({ id: j.id }, { onSuccess: () => void navigate('/ops/jobs?list=failed') })
        }
        onCancel={() => setForgetting(false)}
      >
        <p>It is deleted and will not run again.</p>
      </ConfirmDialog>
    </div>
  );
}
