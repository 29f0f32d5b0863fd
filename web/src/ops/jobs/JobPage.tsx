import { useQuery } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';
import { useTRPC } from '../../trpc.ts';
import { appCodeOf } from '../../ui/errors.ts';
import { QueryView } from '../../ui/QueryView.tsx';
import { EmptyState } from '../../ui/states.tsx';
import { JobDetail } from './JobDetail.tsx';

const FINISHED = ['completed', 'cancelled', 'failed'];

/** One job from the index, polled while it is still moving so the page shows it finish. */
export function JobPage() {
  const { id = '' } = useParams();
  const trpc = useTRPC();
  const job = useQuery(
    trpc.ops.jobs.get.queryOptions(
      { id },
      { refetchInterval: (q) => (q.state.data && FINISHED.includes(q.state.data.status) ? 10_000 : 1_500) },
    ),
  );
  return (
    <QueryView
      query={job}
      loading="Loading job…"
      known={(error) =>
        appCodeOf(error) === 'NOT_FOUND' ? (
          <EmptyState title="This job is not in the index">
            <p>Completed jobs are kept for an hour and failed ones for a week; it may have expired.</p>
            <Link to="/ops/jobs">← Jobs</Link>
          </EmptyState>
        ) : undefined
      }
    >
      {(j) => <JobDetail j={j} />}
    </QueryView>
  );
}
