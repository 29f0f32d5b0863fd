import type { UseInfiniteQueryResult, UseQueryResult } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { EmptyState, ErrorState, Loading } from './states.tsx';

/** When the data holds nothing to show; title and body may depend on it ("past the last page" vs "none yet"). */
export interface EmptyView<T> {
  when: (data: T) => boolean;
  title: string | ((data: T) => string);
  children?: ReactNode | ((data: T) => ReactNode);
}

/**
 * The one way a page shows what a query holds: loading, then an error with "Try again" or, when `empty` says the
 * data holds nothing, the empty state, else the content. Written once instead of a ternary per list, which is where
 * the SPA's pages drifted apart (a missing retry, an error shown as "nothing here"). web/src/one-pattern.test.ts
 * keeps pages from writing these states by hand again.
 */
export function QueryView<T>({
  query,
  loading,
  errorTitle,
  known,
  empty,
  children,
}: {
  query: UseQueryResult<T, unknown> | UseInfiniteQueryResult<T, unknown>;
  /** What is loading, for the spinner's label: "Loading tokens…". */
  loading: string;
  /** The error state's heading when "This could not be loaded" says too little ("Charts could not be loaded"). */
  errorTitle?: string;
  /**
   * An error the page expects and answers with its own state (not found, not configured, signed out); `undefined`
   * for any other error, which gets the error state with "Try again".
   */
  known?: (error: unknown) => ReactNode | undefined;
  empty?: EmptyView<T>;
  children: (data: T) => ReactNode;
}) {
  if (query.isPending) return <Loading label={loading} />;
  if (query.isError) {
    const answer = known?.(query.error);
    if (answer !== undefined) return answer;
    return <ErrorState error={query.error} title={errorTitle} onRetry={() => void query.refetch()} />;
  }
  const data = query.data;
  if (empty?.when(data)) {
    const title = typeof empty.title === 'function' ? empty.title(data) : empty.title;
    const body = typeof empty.children === 'function' ? empty.children(data) : empty.children;
    return <EmptyState title={title}>{body}</EmptyState>;
  }
  return children(data);
}
