import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link, NavLink } from 'react-router';
import { QUEUES } from '../../../shared/schemas/jobs.ts';
import { useTRPC, type RouterOutputs } from '../trpc.ts';
import { Button } from '../ui/Button.tsx';
import { ConfirmDialog } from '../ui/ConfirmDialog.tsx';
import { DataTable } from '../ui/DataTable.tsx';
import { messageOf } from '../ui/errors.ts';
import { Field, FormError, SelectField } from '../ui/Field.tsx';
import { Section } from '../ui/layout.tsx';
import { Pagination } from '../ui/Pagination.tsx';
import { EmptyState, ErrorState, Loading } from '../ui/states.tsx';
import { AuditTrail } from './AuditTrail.tsx';
import { formatAgo, formatDuration, shortId } from './format.ts';
import { useNow } from './hooks.ts';
import { oneOf, useUrlState } from './url.ts';

const PAGE_SIZE = 25;
const LISTS = ['recent', 'completed', 'failed'] as const;
type List = (typeof LISTS)[number];
const LIST_LABELS: Record<List, string> = { recent: 'Recent', completed: 'Completed', failed: 'Failed' };
/** Lists refresh this often while the page is open, so retried and finishing jobs move on their own. */
const LIVE_MS = 2_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type IndexedJob = RouterOutputs['ops']['jobs']['list']['items'][number];
type FailedJob = RouterOutputs['ops']['jobs']['failed']['items'][number];

export function JobsPage() {
  const { get, set } = useUrlState();
  const list = oneOf(get('list'), LISTS, 'recent');
  return (
    <div className="page">
      <div className="page-title">
        <h1>Jobs</h1>
      </div>
      <nav className="tabs" aria-label="Job lists">
        {LISTS.map((l) => (
          <NavLink
            key={l}
            to={l === 'recent' ? '/ops/jobs' : `/ops/jobs?list=${l}`}
            className={() => (l === list ? 'tab active' : 'tab')}
            aria-current={l === list ? 'page' : undefined}
            end
          >
            {LIST_LABELS[l]}
          </NavLink>
        ))}
      </nav>
      {list === 'failed' ? (
        <FailedJobs key="failed" />
      ) : (
        <IndexedJobs key={list} list={list} onTag={(tag) => set({ tag })} />
      )}
      <AuditTrail title="Job actions" targetType="job" showTarget />
    </div>
  );
}

function StatusBadge({ status }: { status: string }) {
  const tone =
    status === 'completed'
      ? 'badge-ok'
      : status === 'failed' || status === 'cancelled'
        ? 'badge-bad'
        : 'badge-warn';
  return <span className={`badge ${tone}`}>{status}</span>;
}

/** Recent and completed jobs come from the Redis job index, which filters by tag only. */
function IndexedJobs({ list, onTag }: { list: 'recent' | 'completed'; onTag: (tag: string | null) => void }) {
  const trpc = useTRPC();
  const { get, set, page } = useUrlState();
  const tag = get('tag');
  const [draft, setDraft] = useState(tag);
  const now = useNow(5_000);
  const jobs = useQuery(
    trpc.ops.jobs.list.queryOptions(
      { list, tag: tag || undefined, limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE },
      { placeholderData: keepPreviousData, refetchInterval: LIVE_MS },
    ),
  );
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onTag(draft.trim() || null);
  };
  return (
    <Section title={`${LIST_LABELS[list]} jobs`}>
      <form role="search" className="filters" onSubmit={submit}>
        <Field
          label="Tag"
          name="tag"
          placeholder="e.g. org:acme or invoice:42"
          maxLength={120}
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
          hint="Recent and completed jobs filter by tag; the failed list filters by queue, type, organization and text."
        />
        <div className="filters-actions">
          <Button type="submit" variant="primary">
            Filter
          </Button>
          {tag ? (
            <Button
              onClick={() => {
                setDraft('');
                onTag(null);
              }}
            >
              Clear
            </Button>
          ) : null}
        </div>
      </form>
      {jobs.isPending ? (
        <Loading label="Loading jobs…" />
      ) : jobs.isError ? (
        <ErrorState error={jobs.error} onRetry={() => void jobs.refetch()} />
      ) : jobs.data.items.length === 0 ? (
        <EmptyState
          title={
            jobs.data.total > 0
              ? 'This page is past the end of the list'
              : tag
                ? `No ${list} job has the tag “${tag}”`
                : `No ${list} jobs in the last hour`
          }
        >
          {jobs.data.total > 0 ? (
            <Button onClick={() => set({ page: 1 })}>Go to the first page</Button>
          ) : null}
        </EmptyState>
      ) : (
        <>
          <DataTable
            columns={['Job', 'Queue', 'Status', 'Tags', 'Attempts', 'Queued', 'Runtime']}
            busy={jobs.isPlaceholderData}
          >
            {jobs.data.items.map((j: IndexedJob) => (
              <tr key={j.id}>
                <td>
                  <Link to={`/ops/jobs/${encodeURIComponent(j.id)}`}>{j.name}</Link>
                  <div className="muted small">
                    <code>{shortId(j.id)}</code>
                  </div>
                </td>
                <td>{j.queue}</td>
                <td>
                  <StatusBadge status={j.status} />
                </td>
                <td>
                  {j.tags.map((t) => (
                    <button key={t} type="button" className="chip" onClick={() => onTag(t)}>
                      {t}
                    </button>
                  ))}
                </td>
                <td>{j.attempts}</td>
                <td className="nowrap">{formatAgo(j.enqueuedAt, now)}</td>
                <td>{formatDuration(j.runtimeMs)}</td>
              </tr>
            ))}
          </DataTable>
          <Pagination
            label="Job pages"
            page={page}
            pageSize={PAGE_SIZE}
            total={jobs.data.total}
            onPage={(p) => set({ page: p })}
          />
        </>
      )}
    </Section>
  );
}

/** Failed jobs come from PostgreSQL, where they stay until retried, forgotten or pruned. */
function FailedJobs() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const { get, set, page } = useUrlState();
  const filter = {
    queue: oneOf(get('queue'), ['', ...QUEUES] as const, '') || undefined,
    name: get('name') || undefined,
    organizationId: UUID.test(get('org')) ? get('org') : undefined,
    search: get('q') || undefined,
  };
  const [draft, setDraft] = useState({ name: get('name'), org: get('org'), q: get('q') });
  const [orgError, setOrgError] = useState<string[] | undefined>();
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [confirm, setConfirm] = useState<null | { kind: 'forget'; job: FailedJob } | { kind: 'all' }>(null);
  const now = useNow(5_000);

  const jobs = useQuery(
    trpc.ops.jobs.failed.queryOptions(
      { filter, limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE },
      { placeholderData: keepPreviousData, refetchInterval: LIVE_MS },
    ),
  );
  const refresh = () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: trpc.ops.jobs.failed.queryKey() }),
      queryClient.invalidateQueries({ queryKey: trpc.ops.jobs.list.queryKey() }),
      queryClient.invalidateQueries({ queryKey: trpc.ops.audit.list.queryKey() }),
    ]);
  const retry = useMutation(trpc.ops.jobs.retry.mutationOptions({ onSuccess: refresh }));
  const forget = useMutation(
    trpc.ops.jobs.forget.mutationOptions({
      onSuccess: async () => {
        setConfirm(null);
        await refresh();
      },
    }),
  );
  const retryMany = useMutation(
    trpc.ops.jobs.retryMany.mutationOptions({
      onSuccess: async () => {
        setSelected(new Set());
        setConfirm(null);
        await refresh();
      },
    }),
  );
  const actionError = retry.error ?? retryMany.error;

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const org = draft.org.trim();
    if (org && !UUID.test(org)) {
      setOrgError(['must be an organization id (open the tenant to copy it)']);
      return;
    }
    setOrgError(undefined);
    setSelected(new Set());
    set({ name: draft.name.trim(), org, q: draft.q.trim() });
  };

  const items = jobs.data?.items ?? [];
  const allOnPage = items.length > 0 && items.every((j) => selected.has(j.id));
  const toggle = (id: string) =>
    setSelected((old) => {
      const next = new Set(old);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  const filtered = Boolean(filter.queue || filter.name || filter.organizationId || filter.search);

  return (
    <Section title="Failed jobs">
      <form role="search" className="filters" onSubmit={submit} aria-label="Failed job filters">
        <SelectField
          label="Queue"
          value={filter.queue ?? ''}
          onChange={(e) => {
            setSelected(new Set());
            set({ queue: e.target.value });
          }}
        >
          <option value="">All queues</option>
          {QUEUES.map((q) => (
            <option key={q} value={q}>
              {q}
            </option>
          ))}
        </SelectField>
        <Field
          label="Job type"
          name="name"
          placeholder="e.g. billing.stripe-event"
          maxLength={120}
          value={draft.name}
          onChange={(e) => setDraft({ ...draft, name: e.target.value })}
        />
        <Field
          label="Organization id"
          name="org"
          placeholder="UUID"
          maxLength={36}
          value={draft.org}
          errors={orgError}
          onChange={(e) => setDraft({ ...draft, org: e.target.value })}
        />
        <Field
          label="Error text"
          name="q"
          type="search"
          maxLength={200}
          value={draft.q}
          onChange={(e) => setDraft({ ...draft, q: e.target.value })}
        />
        <div className="filters-actions">
          <Button type="submit" variant="primary">
            Filter
          </Button>
          {filtered ? (
            <Button
              onClick={() => {
                setDraft({ name: '', org: '', q: '' });
                setSelected(new Set());
                set({ queue: null, name: null, org: null, q: null });
              }}
            >
              Clear
            </Button>
          ) : null}
        </div>
      </form>

      <div className="toolbar" aria-label="Bulk actions">
        <Button
          variant="primary"
          disabled={!selected.size}
          busy={retryMany.isPending && 'ids' in (retryMany.variables ?? {})}
          onClick={() => retryMany.mutate({ ids: [...selected] })}
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

      {jobs.isPending ? (
        <Loading label="Loading failed jobs…" />
      ) : jobs.isError ? (
        <ErrorState error={jobs.error} onRetry={() => void jobs.refetch()} />
      ) : items.length === 0 ? (
        <EmptyState
          title={
            jobs.data.total > 0
              ? 'This page is past the end of the list'
              : filtered
                ? 'No failed job matches these filters'
                : 'No failed jobs'
          }
        >
          {jobs.data.total > 0 ? (
            <Button onClick={() => set({ page: 1 })}>Go to the first page</Button>
          ) : null}
        </EmptyState>
      ) : (
        <>
          <div className="table-scroll">
            <table className="table" aria-busy={jobs.isPlaceholderData || undefined}>
              <thead>
                <tr>
                  <th scope="col">
                    <input
                      type="checkbox"
                      aria-label="Select every job on this page"
                      checked={allOnPage}
                      onChange={() => setSelected(allOnPage ? new Set() : new Set(items.map((j) => j.id)))}
                    />
                  </th>
                  <th scope="col">Job</th>
                  <th scope="col">Queue</th>
                  <th scope="col">Organization</th>
                  <th scope="col">Error</th>
                  <th scope="col">Attempts</th>
                  <th scope="col">Failed</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {items.map((j) => (
                  <tr key={j.id} aria-label={`${j.name} ${j.id}`}>
                    <td>
                      <input
                        type="checkbox"
                        aria-label={`Select ${j.name} ${j.id}`}
                        checked={selected.has(j.id)}
                        onChange={() => toggle(j.id)}
                      />
                    </td>
                    <td>
                      <Link to={`/ops/jobs/${encodeURIComponent(j.id)}`}>{j.name}</Link>
                      <div className="muted small">
                        <code>{shortId(j.id)}</code>
                      </div>
                    </td>
                    <td>{j.queue}</td>
                    <td>
                      {j.organizationId ? (
                        <Link to={`/ops/tenants/${j.organizationId}`}>
                          <code>{shortId(j.organizationId)}</code>
                        </Link>
                      ) : (
                        <span className="muted">system</span>
                      )}
                    </td>
                    <td className="error-cell" title={j.error}>
                      {j.error.split('\n')[0]}
                    </td>
                    <td>{j.attempts}</td>
                    <td className="nowrap">{formatAgo(j.failedAt, now)}</td>
                    <td className="actions">
                      <Button
                        onClick={() => retry.mutate({ id: j.id })}
                        busy={retry.isPending && retry.variables.id === j.id}
                        aria-label={`Retry ${j.name} ${j.id}`}
                      >
                        Retry
                      </Button>
                      <Button
                        variant="danger"
                        onClick={() => setConfirm({ kind: 'forget', job: j })}
                        aria-label={`Forget ${j.name} ${j.id}`}
                      >
                        Forget
                      </Button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pagination
            label="Failed job pages"
            page={page}
            pageSize={PAGE_SIZE}
            total={jobs.data.total}
            onPage={(p) => {
              setSelected(new Set());
              set({ page: p });
            }}
          />
        </>
      )}

      <ConfirmDialog
        open={confirm?.kind === 'forget'}
        title="Forget this failed job?"
        confirmLabel="Forget job"
        danger
        busy={forget.isPending}
        error={forget.error ? messageOf(forget.error) : null}
        onConfirm={() => confirm?.kind === 'forget' && forget.mutate({ id: confirm.job.id })}
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
        onConfirm={() => retryMany.mutate({ all: true, filter, limit: 500 })}
        onCancel={() => setConfirm(null)}
      >
        <p>
          Up to 500 of the {jobs.data?.total.toLocaleString() ?? 0} failed jobs
          {filtered ? ' matching the filters' : ''} are queued again, oldest first. Run it again for the rest.
        </p>
      </ConfirmDialog>
    </Section>
  );
}
