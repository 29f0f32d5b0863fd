import { hashKey, useQueryClient, type QueryFilters } from '@tanstack/react-query';
import { useCallback } from 'react';
import { useTRPC } from './trpc.ts';

/** A router or procedure of the tRPC options proxy (`trpc.ops.jobs`, `trpc.documents.list`). */
interface Path {
  pathFilter: () => QueryFilters;
}

/**
 * Marks every query beneath the given router paths stale (and refetches the ones on screen): a mutation names the
 * parts of the API it changes (`trpc.ops.jobs`, `trpc.ops.audit`), not each list, page and input it may have
 * changed, so a new procedure under the path is refreshed too.
 */
export function useInvalidate(): (...paths: Path[]) => Promise<void> {
  const queryClient = useQueryClient();
  return useCallback(
    async (...paths: Path[]) => {
      await Promise.all(paths.map((p) => queryClient.invalidateQueries(p.pathFilter())));
    },
    [queryClient],
  );
}

/**
 * After the caller's current organization changed (a switch, leaving one): everything cached belonged to the previous
 * organization and is dropped. auth.me is read again rather than taken from the mutation's answer, which the server
 * builds from the user row it loaded before the change; the pages are keyed by organization, so they remount and
 * fetch afresh once auth.me names the new one.
 */
export function useOrganizationChanged(): () => Promise<void> {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  return useCallback(async () => {
    const meKey = trpc.auth.me.queryKey();
    const meHash = hashKey(meKey);
    queryClient.removeQueries({ predicate: (q) => q.queryHash !== meHash });
    await queryClient.invalidateQueries({ queryKey: meKey, exact: true });
  }, [queryClient, trpc]);
}
