import { useSubscription } from '@trpc/tanstack-react-query';
import { useState } from 'react';
import { useTRPC } from '../trpc.ts';
export type { JobProgress } from '../../../shared/schemas/realtime.ts';
import type { JobProgress } from '../../../shared/schemas/realtime.ts';

/**
 * The organization's job progress, newest per job. The stream is tracked, so after a reconnect it resumes from the
 * last event it delivered and the bars catch up without a refresh. `onChange` fires for each event (to refetch
 * lists when a job finishes, or everything after a resync).
 */
export function useJobProgress(onChange: (p: JobProgress | 'resync') => void) {
  const trpc = useTRPC();
  const [byJob, setByJob] = useState<Record<string, JobProgress>>({});
  const sub = useSubscription(
    trpc.jobs.progress.subscriptionOptions(
      {},
      {
        onData: ({ data }) => {
          // Events were lost while away (beyond retention): the lists are re-read instead.
          if (!('jobId' in data)) return onChange('resync');
          setByJob((m) => ({ ...m, [data.jobId]: data }));
          onChange(data);
        },
      },
    ),
  );
  return { byJob, status: sub.status, error: sub.error };
}

export function ProgressBar({ label, value }: { label: string; value: number | null }) {
  return (
    <span className="progress-wrap">
      <progress className="progress" aria-label={label} max={1} {...(value === null ? {} : { value })} />{' '}
      <span>{value === null ? '…' : `${Math.round(value * 100)} %`}</span>
    </span>
  );
}
