import { useQueryClient, type QueryFilters } from '@tanstack/react-query';
import { useCallback } from 'react';

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
