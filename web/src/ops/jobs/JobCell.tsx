import { Link } from 'react-router';
import { shortId } from '../format.ts';

/** A job's table cell in every job list: its name, linking to the job, over its short id. */
export function JobCell({ id, name }: { id: string; name: string }) {
  return (
    <td>
      <Link to={`/ops/jobs/${encodeURIComponent(id)}`}>{name}</Link>
      <div className="muted small">
        <code>{shortId(id)}</code>
      </div>
    </td>
  );
}
