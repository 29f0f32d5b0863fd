import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { JobCell } from './JobCell.tsx';
import { useTRPC } from '../../trpc.ts';
import { Button } from '../../ui/Button.tsx';
import { DataTable } from '../../ui/DataTable.tsx';
import { Field } from '../../ui/Field.tsx';
import { Section } from '../../ui/layout.tsx';
import { PagedQueryView } from '../../ui/PagedQueryView.tsx';
import { formatAgo, formatDuration } from '../format.ts';
import { useNow } from '../hooks.ts';
import { useUrlState } from '../url.ts';
import { LIST_LABELS, LIVE_MS, PAGE_SIZE } from './useJobs.ts';

export function StatusBadge({ status }: { status: string }) {
  const tone =
    status === 'completed'
      ? 'badge-ok'
      : status === 'failed' || status === 'cancelled'
        ? 'badge-bad'
        : 'badge-warn';
  return <span className={`badge ${tone}`}>{status}</span>;
}

/** Recent and completed jobs come from the Redis job index, which filters by tag only. */
export function IndexedJobs({ list }: { list: 'recent' | 'completed' }) {
  const trpc = useTRPC();
  const { get, set, page } = useUrlState();
  const tag = get('tag');
  const onTag = (next: string | null) => set({ tag: next });
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
      <PagedQueryView
        query={jobs}
        loading="Loading jobs…"
        none={tag ? `No ${list} job has the tag “${tag}”` : `No ${list} jobs in the last hour`}
        label="Job pages"
        page={page}
        pageSize={PAGE_SIZE}
        onPage={(p) => set({ page: p })}
      >
        {(data) => (
          <DataTable
            columns={['Job', 'Queue', 'Status', 'Tags', 'Attempts', 'Queued', 'Runtime']}
            busy={jobs.isPlaceholderData}
          >
            {data.items.map((j) => (
              <tr key={j.id}>
                <JobCell id={j.id} name={j.name} />
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
        )}
      </PagedQueryView>
    </Section>
  );
}
