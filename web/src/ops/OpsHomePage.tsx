import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { useSearchParams } from 'react-router';
import { useTRPC } from '../trpc.ts';
import { Button } from '../ui/Button.tsx';
import { appCodeOf } from '../ui/errors.ts';
import { Field } from '../ui/Field.tsx';
import { formatDate } from '../ui/format.ts';
import { Section, Stat } from '../ui/layout.tsx';
import { EmptyState, ErrorState, Loading } from '../ui/states.tsx';
import { StaffOnly } from './StaffOnly.tsx';

const PAGE_SIZE = 10;

export function OpsHomePage() {
  const trpc = useTRPC();
  const overview = useQuery(trpc.ops.overview.queryOptions());
  if (appCodeOf(overview.error) === 'STAFF_ONLY') return <StaffOnly />;
  return (
    <div className="page">
      <h1>Operations</h1>
      {overview.isPending ? (
        <Loading label="Loading overview…" />
      ) : overview.isError ? (
        <ErrorState error={overview.error} onRetry={() => void overview.refetch()} />
      ) : (
        <div className="stats" aria-label="Overview">
          <Stat label="Organizations" value={overview.data.organizations} />
          <Stat label="Active organizations" value={overview.data.activeOrganizations} />
          <Stat label="Users" value={overview.data.users} />
          <Stat label="Staff" value={overview.data.staff} />
        </div>
      )}
      <Organizations />
    </div>
  );
}

function pageFrom(raw: string | null): number {
  const n = Number(raw);
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

/** Search and page live in the URL, so a result can be linked to and Back works. */
function Organizations() {
  const trpc = useTRPC();
  const [params, setParams] = useSearchParams();
  const query = params.get('q')?.trim() ?? '';
  const page = pageFrom(params.get('page'));
  const [draft, setDraft] = useState(query);
  const list = useQuery(
    trpc.ops.organizations.list.queryOptions(
      { query: query || undefined, limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE },
      { placeholderData: keepPreviousData },
    ),
  );

  const go = (next: { q?: string; page?: number }) => {
    const q = next.q ?? query;
    const p = next.page ?? page;
    setParams({ ...(q ? { q } : {}), ...(p > 1 ? { page: String(p) } : {}) });
  };
  const onSearch = (e: FormEvent) => {
    e.preventDefault();
    go({ q: draft.trim(), page: 1 });
  };

  const total = list.data?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const first = total ? (page - 1) * PAGE_SIZE + 1 : 0;
  const last = Math.min(page * PAGE_SIZE, total);

  return (
    <Section title="Organizations">
      <form role="search" className="search" onSubmit={onSearch}>
        <Field
          label="Search organizations"
          name="q"
          type="search"
          placeholder="Name or slug"
          maxLength={120}
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
        />
        <Button type="submit" variant="primary">
          Search
        </Button>
        {query ? (
          <Button
            onClick={() => {
              setDraft('');
              go({ q: '', page: 1 });
            }}
          >
            Clear
          </Button>
        ) : null}
      </form>
      {list.isPending ? (
        <Loading label="Loading organizations…" />
      ) : list.isError ? (
        <ErrorState error={list.error} onRetry={() => void list.refetch()} />
      ) : list.data.items.length === 0 && total > 0 ? (
        <EmptyState title={`Page ${page} is past the last page (${pages})`}>
          <Button onClick={() => go({ page: 1 })}>Go to the first page</Button>
        </EmptyState>
      ) : list.data.items.length === 0 ? (
        <EmptyState title={query ? `No organization matches “${query}”` : 'No organizations yet'} />
      ) : (
        <>
          <table className="table" aria-busy={list.isPlaceholderData || undefined}>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Slug</th>
                <th scope="col">Plan</th>
                <th scope="col">Status</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((o) => (
                <tr key={o.id}>
                  <td>{o.name}</td>
                  <td>
                    <code>{o.slug}</code>
                  </td>
                  <td className="capitalize">{o.tier}</td>
                  <td>
                    <span className={o.active ? 'badge badge-ok' : 'badge badge-warn'}>
                      {o.active ? 'Active' : 'Suspended'}
                    </span>
                  </td>
                  <td>{formatDate(o.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <nav className="pagination" aria-label="Organization pages">
            <Button disabled={page <= 1} onClick={() => go({ page: page - 1 })}>
              Previous
            </Button>
            <span aria-live="polite">
              {first}–{last} of {total}
            </span>
            <Button disabled={page >= pages} onClick={() => go({ page: page + 1 })}>
              Next
            </Button>
          </nav>
        </>
      )}
    </Section>
  );
}
