import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { useTRPC } from '../../trpc.ts';
import { Button } from '../../ui/Button.tsx';
import { ConfirmDialog } from '../../ui/ConfirmDialog.tsx';
import { messageOf } from '../../ui/errors.ts';
import { FormError } from '../../ui/Field.tsx';
import { Section } from '../../ui/layout.tsx';
import { PagedQueryView } from '../../ui/PagedQueryView.tsx';
import { useUrlState } from '../url.ts';
import { FailedJobFilters } from './FailedJobFilters.tsx';
import { FailedJobsTable, type FailedJob } from './FailedJobsTable.tsx';
import { LIVE_MS, PAGE_SIZE, useFailedJobFilter, useJobActions } from './useJobs.ts';

/** At most this many jobs are queued again by one "Retry all matching". */
const RETRY_ALL_LIMIT = 500;

/** Failed jobs come from PostgreSQL, where they stay until retried, forgotten or pruned. */
export function FailedJobs() {
  const trpc = useTRPC();
  const { set, page } = useUrlState();
  const { filter, filtered } = useFailedJobFilter();
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [confirm, setConfirm] = useState<null | { kind: 'forget'; job: FailedJob } | { kind: 'all' }>(null);
  const jobs = useQuery(
    trpc.ops.jobs.failed.queryOptions(
      { filter, limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE },
      { placeholderData: keepPreviousData, refetchInterval: LIVE_MS },
    ),
  );
  const { retry, retryMany, forget } = useJobActions();
  const afterRetryMany = {
    onSuccess: () => {
      setSelected(new Set());
      setConfirm(null);
    },
  };
  const actionError = retry.error ?? retryMany.error;

  return (
    <Section title="Failed jobs">
      <FailedJobFilters onChange={() => setSelected(new Set())} />
      <div className="toolbar" aria-label="Bulk actions">
        <Button
          variant="primary"
          disabled={!selected.size}
          busy={retryMany.isPending && 'ids' in (retryMany.variables ?? {})}
          onClick={() => retryMany.mutate({ ids: [...selected] }, afterRetryMany)}
        >
          Retry selected ({selected.size})
        </Button>
        <Button disabled={!jobs.data?.total} onClick={() => setConfirm({ kind: 'all' })}>
          Retry all matching…
        </Button>
        {retryMany.data ? (
          <span role="status" className="muted">
            Retried {retryMany.data.retried.length}
            {retryMany.data.missing.length ? `; ${retryMany.data.missing.length} were already gone` : ''}.
          </span>
        ) : null}
      </div>
      <FormError>{actionError ? messageOf(actionError) : null}</FormError>

      <PagedQueryView
        query={jobs}
        loading="Loading failed jobs…"
        none={filtered ? 'No failed job matches these filters' : 'No failed jobs'}
        label="Failed job pages"
        page={page}
        pageSize={PAGE_SIZE}
        onPage={(p) => {
          setSelected(new Set());
          set({ page: p });
        }}
      >
        {(data) => (
          <FailedJobsTable
            items={data.items}
            busy={jobs.isPlaceholderData}
            selected={selected}
            onSelect={setSelected}
            onRetry={(j) => retry.mutate({ id: j.id })}
            retrying={retry.isPending ? retry.variables.id : undefined}
            onForget={(job) => setConfirm({ kind: 'forget', job })}
          />
        )}
      </PagedQueryView>

      <ConfirmDialog
        open={confirm?.kind === 'forget'}
        title="Forget this failed job?"
        confirmLabel="Forget job"
        danger
        busy={forget.isPending}
        error={forget.error ? messageOf(forget.error) : null}
        onConfirm={() =>
          confirm?.kind === 'forget' &&
          forget.mutate({ id: confirm.job.id }, { onSuccess: () => setConfirm(null) })
        }
        onCancel={() => setConfirm(null)}
      >
        {confirm?.kind === 'forget' ? (
          <p>
            <strong>{confirm.job.name}</strong> (<code>{confirm.job.id}</code>) is deleted and will not run
            again.
          </p>
        ) : null}
      </ConfirmDialog>
      <ConfirmDialog
        open={confirm?.kind === 'all'}
        title="Retry every matching failed job?"
        confirmLabel="Retry all"
        busy={retryMany.isPending}
        error={retryMany.error ? messageOf(retryMany.error) : null}
        onConfirm={() => retryMany.mutate({ all: true, filter, limit: RETRY_ALL_LIMIT }, afterRetryMany)}
        onCancel={() => setConfirm(null)}
      >
        <p>
          Up to {RETRY_ALL_LIMIT} of the {jobs.data?.total.toLocaleString() ?? 0} failed jobs
          {filtered ? ' matching the filters' : ''} are queued again, oldest first. Run it again for the rest.
        </p>
      </ConfirmDialog>
    </Section>
  );
}
