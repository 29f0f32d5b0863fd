import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { useTRPC } from '../../trpc.ts';
import { Button } from '../../ui/Button.tsx';
import { DataTable } from '../../ui/DataTable.tsx';
import { Field } from '../../ui/Field.tsx';
import { formatDate } from '../../ui/format.ts';
import { Section } from '../../ui/layout.tsx';
import { PagedQueryView } from '../../ui/PagedQueryView.tsx';
import { useUrlState } from '../url.ts';

const PAGE_SIZE = 10;

/** Search and page live in the URL, so a result can be linked to and Back works. */
export function Organizations() {
  const trpc = useTRPC();
  const { get, set, page } = useUrlState();
  const query = get('q');
  const [draft, setDraft] = useState(query);
  const list = useQuery(
    trpc.ops.organizations.list.queryOptions(
      { query: query || undefined, limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE },
      { placeholderData: keepPreviousData },
    ),
  );

  const onSearch = (e: FormEvent) => {
    e.preventDefault();
    set({ q: draft.trim() });
  };

  return (
    <Section title="Organizations" aside={<Link to="/ops/tenants">All tenants</Link>}>
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
              set({ q: null });
            }}
          >
            Clear
          </Button>
        ) : null}
      </form>
      <PagedQueryView
        query={list}
        loading="Loading organizations…"
        none={query ? `No organization matches “${query}”` : 'No organizations yet'}
        label="Organization pages"
        page={page}
        pageSize={PAGE_SIZE}
        onPage={(p) => set({ page: p })}
      >
        {(data) => (
          <DataTable columns={['Name', 'Slug', 'Plan', 'Status', 'Created']} busy={list.isPlaceholderData}>
            {data.items.map((o) => (
              <tr key={o.id}>
                <td>
                  <Link to={`/ops/tenants/${o.id}`}>{o.name}</Link>
                </td>
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
          </DataTable>
        )}
      </PagedQueryView>
    </Section>
  );
}
