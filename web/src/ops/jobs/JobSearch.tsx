import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { JobCell } from './JobCell.tsx';
import { useTRPC } from '../../trpc.ts';
import { Button } from '../../ui/Button.tsx';
import { DataTable } from '../../ui/DataTable.tsx';
import { Section } from '../../ui/layout.tsx';
import { QueryView } from '../../ui/QueryView.tsx';
import { formatAgo, formatDuration, shortId } from '../format.ts';
import { useNow } from '../hooks.ts';
import { BulkActions } from './BulkActions.tsx';
import { StatusBadge } from './IndexedJobs.tsx';
import { JobSearchForm } from './JobSearchForm.tsx';
import { useJobSearchFilter } from './useJobSearch.ts';
import { LIVE_MS, PAGE_SIZE } from './useJobs.ts';

/**
 * Jobs in any state by type, organization, tag, state, declared payload field and dispatch time (ADR 0026), newest
 * first, paged by the server's cursor; the bulk actions apply to everything the filter matches, not only this page.
 */
export function JobSearch() {
  const trpc = useTRPC();
  const { filter, filtered } = useJobSearchFilter();
  // The cursors of the pages before this one, so "Newer" can go back.
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const cursor = cursors[cursors.length - 1];
  const now = useNow(5_000);
  const jobs = useQuery(
    trpc.ops.jobs.search.queryOptions(
      { filter, limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) },
      { placeholderData: keepPreviousData, refetchInterval: LIVE_MS },
    ),
  );
  const restart = () => setCursors([undefined]);
  return (
    <Section title="Search jobs">
      <JobSearchForm onChange={restart} />
      {filtered ? <BulkActions filter={filter} /> : null}
      <QueryView
        query={jobs}
        loading="Searching jobs…"
        empty={{
          when: (d) => d.items.length === 0 && !d.cursor && cursors.length === 1,
          title: filtered ? 'No job matches this search' : 'No jobs in the index',
        }}
      >
        {(data) => (
          <>
            <DataTable
              columns={[
                'Job',
                'Queue',
                'Status',
                'Organization',
                'Tags',
                'Attempts',
                'Dispatched',
                'Runtime',
              ]}
              busy={jobs.isPlaceholderData}
            >
              {data.items.map((j) => (
                <tr key={j.id}>
                  <JobCell id={j.id} name={j.name} />
                  <td>{j.queue}</td>
                  <td>
                    <StatusBadge status={j.status} />
                  </td>
                  <td>{j.organizationId ? <code>{shortId(j.organizationId)}</code> : 'system'}</td>
                  <td>{j.tags.join(', ')}</td>
                  <td>{j.attempts}</td>
                  <td className="nowrap">{formatAgo(j.enqueuedAt, now)}</td>
                  <td>{formatDuration(j.runtimeMs)}</td>
                </tr>
              ))}
            </DataTable>
            {data.items.length === 0 ? (
              <p className="muted" role="status">
                No match among the {data.walked} index entries searched for this page: “Older” searches on.
              </p>
            ) : null}
            <nav className="pagination" aria-label="Search pages">
              <Button disabled={cursors.length === 1} onClick={() => setCursors(cursors.slice(0, -1))}>
                Newer
              </Button>
              <Button
                disabled={!data.cursor}
                onClick={() => setCursors([...cursors, data.cursor ?? undefined])}
              >
                Older
              </Button>
            </nav>
          </>
        )}
      </QueryView>
    </Section>
  );
}
