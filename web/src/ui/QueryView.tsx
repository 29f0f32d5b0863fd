import type { UseInfiniteQueryResult, UseQueryResult } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { EmptyState, ErrorState, Loading } from './states.tsx';

/**
 * The one way a page shows what a query holds: loading, then an error with "Try again" or, when `empty` says the
 * data holds nothing, the empty state, else the content. Written once instead of a ternary per list, which is where
 * the SPA's pages drifted apart (a missing retry, an error shown as "nothing here").
 */
export function QueryView<T>({
  query,
  loading,
  empty,
  children,
}: {
  query: UseQueryResult<T, unknown> | UseInfiniteQueryResult<T, unknown>;
  /** What is loading, for the spinner's label: "Loading tokens…". */
  loading: string;
  empty?: { when: (data: T) => boolean; title: string; children?: ReactNode };
  children: (data: T) => ReactNode;
}) {
  if (query.isPending) return <Loading label={loading} />;
  if (query.isError) return <ErrorState error={query.error} onRetry={() => void query.refetch()} />;
  if (empty?.when(query.data)) return <EmptyState title={empty.title}>{empty.children}</EmptyState>;
  return children(query.data);
}
