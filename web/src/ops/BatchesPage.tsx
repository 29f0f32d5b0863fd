import { keepPreviousData, useMutation, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { Link } from 'react-router';
import { useTRPC, type RouterOutputs } from '../trpc.ts';
import { Button } from '../ui/Button.tsx';
import { ConfirmDialog } from '../ui/ConfirmDialog.tsx';
import { DataTable } from '../ui/DataTable.tsx';
import { messageOf } from '../ui/errors.ts';
import { FormError } from '../ui/Field.tsx';
import { Section } from '../ui/layout.tsx';
import { PagedQueryView } from '../ui/PagedQueryView.tsx';
import { AuditTrail } from './AuditTrail.tsx';
import { formatAgo, formatInt, shortId } from './format.ts';
import { useNow } from './hooks.ts';
import { useUrlState } from './url.ts';
import { useInvalidate } from '../invalidate.ts';

const PAGE_SIZE = 20;
type Batch = RouterOutputs['ops']['batches']['list']['items'][number];

function stateOf(b: Batch): { label: string; tone: string } {
  if (b.cancelledAt) return { label: 'Cancelled', tone: 'badge-warn' };
  if (b.finishedAt)
    return b.failed
      ? { label: 'Finished with failures', tone: 'badge-bad' }
      : { label: 'Finished', tone: 'badge-ok' };
  return { label: 'Running', tone: '' };
}

/** Batches with their progress (refreshed every two seconds), failures, cancel and retry of the failed jobs. */
export function BatchesPage() {
  const trpc = useTRPC();
  const invalidate = useInvalidate();
  const { set, page } = useUrlState();
  const now = useNow(5_000);
  const [cancelling, setCancelling] = useState<Batch | null>(null);
  const batches = useQuery(
    trpc.ops.batches.list.queryOptions(
      { limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE },
      { placeholderData: keepPreviousData, refetchInterval: 2_000 },
    ),
  );
  const refresh = () => invalidate(trpc.ops.batches, trpc.ops.audit);
  const cancel = useMutation(
    trpc.ops.batches.cancel.mutationOptions({
      onSuccess: async () => {
        setCancelling(null);
        await refresh();
      },
    }),
  );
  const retryFailed = useMutation(trpc.ops.batches.retryFailed.mutationOptions({ onSuccess: refresh }));

  return (
    <div className="page">
      <div className="page-title">
        <h1>Batches</h1>
      </div>
      <Section title="Batches">
        <FormError>{retryFailed.error ? messageOf(retryFailed.error) : null}</FormError>
        {retryFailed.data ? (
          <p className="notice" role="status">
            {retryFailed.data.retried.length
              ? `Queued ${retryFailed.data.retried.length} failed jobs again.`
              : 'That batch had no failed jobs left to retry.'}
          </p>
        ) : null}
        <PagedQueryView
          query={batches}
          loading="Loading batches…"
          none="No batches in the last week"
          label="Batch pages"
          page={page}
          pageSize={PAGE_SIZE}
          onPage={(p) => set({ page: p })}
        >
          {(data) => (
            <DataTable
              columns={[
                'Batch',
                'State',
                'Progress',
                'Jobs',
                'Failed',
                'Created',
                { label: 'Actions', hidden: true },
              ]}
              busy={batches.isPlaceholderData}
            >
              {data.items.map((b) => {
                const state = stateOf(b);
                return (
                  <tr key={b.id} id={b.id}>
                    <td>
                      {b.name || 'Unnamed batch'}
                      <div className="muted small">
                        <code>{shortId(b.id)}</code>
                        {b.organizationId ? (
                          <>
                            {' · '}
                            <Link to={`/ops/tenants/${b.organizationId}`}>tenant</Link>
                          </>
                        ) : null}
                      </div>
                    </td>
                    <td>
                      <span className={`badge ${state.tone}`}>{state.label}</span>
                    </td>
                    <td>
                      <progress max={100} value={b.progress} aria-label={`${b.name || 'Batch'} progress`} />{' '}
                      {b.progress} %
                    </td>
                    <td>
                      {formatInt(b.total - b.pending)} of {formatInt(b.total)} succeeded
                      {b.pending - b.failed > 0 ? (
                        <div className="muted small">{formatInt(b.pending - b.failed)} still to run</div>
                      ) : null}
                    </td>
                    <td>
                      {b.failed ? (
                        <details>
                          <summary>{formatInt(b.failed)}</summary>
                          <ul className="plain">
                            {b.failedJobIds.slice(0, 20).map((id) => (
                              <li key={id}>
                                <Link to={`/ops/jobs/${encodeURIComponent(id)}`}>
                                  <code>{shortId(id)}</code>
                                </Link>
                              </li>
                            ))}
                          </ul>
                        </details>
                      ) : (
                        0
                      )}
                    </td>
                    <td className="nowrap">{formatAgo(b.createdAt, now)}</td>
                    <td className="actions">
                      <Button
                        disabled={!b.failedJobIds.length}
                        busy={retryFailed.isPending && retryFailed.variables.id === b.id}
                        onClick={() => retryFailed.mutate({ id: b.id })}
                        aria-label={`Retry failed jobs of ${b.name || b.id}`}
                      >
                        Retry failed
                      </Button>
                      <Button
                        variant="danger"
                        disabled={Boolean(b.cancelledAt || b.finishedAt)}
                        onClick={() => setCancelling(b)}
                        aria-label={`Cancel ${b.name || b.id}`}
                      >
                        Cancel
                      </Button>
                    </td>
                  </tr>
                );
              })}
            </DataTable>
          )}
        </PagedQueryView>
      </Section>
      <AuditTrail title="Batch actions" targetType="batch" showTarget />
      <ConfirmDialog
        open={cancelling !== null}
        title="Cancel this batch?"
        confirmLabel="Cancel batch"
        danger
        busy={cancel.isPending}
        error={cancel.error ? messageOf(cancel.error) : null}
        onConfirm={() => cancelling && cancel.mutate({ id: cancelling.id })}
        onCancel={() => setCancelling(null)}
      >
        <p>
          Jobs of <strong>{cancelling?.name || cancelling?.id}</strong> that have not started are skipped;
          running ones finish.
        </p>
      </ConfirmDialog>
    </div>
  );
}
