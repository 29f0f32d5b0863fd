import { Link } from 'react-router';
import type { RouterOutputs } from '../../trpc.ts';
import { Button } from '../../ui/Button.tsx';
import { formatAgo, shortId } from '../format.ts';
import { useNow } from '../hooks.ts';
import { JobCell } from './JobCell.tsx';

export type FailedJob = RouterOutputs['ops']['jobs']['failed']['items'][number];

/** One page of failed jobs with a checkbox per row (and one for the page) and per-row retry and forget. */
export function FailedJobsTable({
  items,
  busy,
  selected,
  onSelect,
  onRetry,
  retrying,
  onForget,
}: {
  items: FailedJob[];
  busy: boolean;
  selected: ReadonlySet<string>;
  onSelect: (next: Set<string>) => void;
  onRetry: (job: FailedJob) => void;
  /** The job whose retry is under way, if any. */
  retrying: string | undefined;
  onForget: (job: FailedJob) => void;
}) {
  const now = useNow(5_000);
  const allOnPage = items.length > 0 && items.every((j) => selected.has(j.id));
  const toggle = (id: string) => {
    const next = new Set(selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    onSelect(next);
  };
  return (
    <div className="table-scroll">
      <table className="table" aria-busy={busy || undefined}>
        <thead>
          <tr>
            <th scope="col">
              <input
                type="checkbox"
                aria-label="Select every job on this page"
                checked={allOnPage}
                onChange={() => onSelect(allOnPage ? new Set() : new Set(items.map((j) => j.id)))}
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
              <JobCell id={j.id} name={j.name} />
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
                  onClick={() => onRetry(j)}
                  busy={retrying === j.id}
                  aria-label={`Retry ${j.name} ${j.id}`}
                >
                  Retry
                </Button>
                <Button variant="danger" onClick={() => onForget(j)} aria-label={`Forget ${j.name} ${j.id}`}>
                  Forget
                </Button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
