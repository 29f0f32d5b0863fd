import { useMutation } from '@tanstack/react-query';
import { QUEUES } from '../../../../shared/schemas/jobs.ts';
import { useInvalidate } from '../../invalidate.ts';
import { useTRPC } from '../../trpc.ts';
import { oneOf, useUrlState } from '../url.ts';

export const PAGE_SIZE = 25;
export const LISTS = ['recent', 'completed', 'failed'] as const;
export type List = (typeof LISTS)[number];
export const LIST_LABELS: Record<List, string> = {
  recent: 'Recent',
  completed: 'Completed',
  failed: 'Failed',
};
/** Lists refresh this often while the page is open, so retried and finishing jobs move on their own. */
export const LIVE_MS = 2_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** The failed-job filter as the URL holds it; a hand-edited URL with a bad queue or id filters by nothing. */
export function useFailedJobFilter() {
  const { get } = useUrlState();
  const filter = {
    queue: oneOf(get('queue'), ['', ...QUEUES] as const, '') || undefined,
    name: get('name') || undefined,
    organizationId: isUuid(get('org')) ? get('org') : undefined,
    search: get('q') || undefined,
  };
  const filtered = Boolean(filter.queue || filter.name || filter.organizationId || filter.search);
  return { filter, filtered };
}

/**
 * Retry, retry many and forget, each refreshing every job list and the operator audit log (where the action is
 * recorded). Callers add what their page does next with `mutate(input, { onSuccess })`.
 */
export function useJobActions() {
  const trpc = useTRPC();
  const invalidate = useInvalidate();
  const refresh = () => invalidate(trpc.ops.jobs, trpc.ops.audit);
  return {
    retry: useMutation(trpc.ops.jobs.retry.mutationOptions({ onSuccess: refresh })),
    retryMany: useMutation(trpc.ops.jobs.retryMany.mutationOptions({ onSuccess: refresh })),
    forget: useMutation(trpc.ops.jobs.forget.mutationOptions({ onSuccess: refresh })),
  };
}
