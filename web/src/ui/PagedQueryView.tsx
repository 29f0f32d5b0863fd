import type { UseQueryResult } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { Button } from './Button.tsx';
import { Pagination } from './Pagination.tsx';
import { QueryView } from './QueryView.tsx';

/**
 * A server-paginated list whose page is in the URL: QueryView's states, then the rows and Pagination. An empty page
 * of a list that does have items (a bookmarked page past the end, or the list shrank) says so and offers the first
 * page instead of claiming there is nothing. Written once because seven console lists had each spelled it out.
 */
export function PagedQueryView<T extends { items: readonly unknown[]; total: number }>({
  query,
  loading,
  none,
  label,
  page,
  pageSize,
  onPage,
  children,
}: {
  query: UseQueryResult<T, unknown>;
  /** What is loading, for the spinner's label: "Loading tenants…". */
  loading: string;
  /** The empty state's heading when the list has nothing at all (for these filters). */
  none: string;
  /** Names the page navigation landmark, e.g. "Tenant pages". */
  label: string;
  page: number;
  pageSize: number;
  onPage: (page: number) => void;
  /** The rows of a non-empty page. */
  children: (data: T) => ReactNode;
}) {
  return (
    <QueryView
      query={query}
      loading={loading}
      empty={{
        when: (data) => data.items.length === 0,
        title: (data) => (data.total > 0 ? 'This page is past the end of the list' : none),
        children: (data) =>
          data.total > 0 ? <Button onClick={() => onPage(1)}>Go to the first page</Button> : null,
      }}
    >
      {(data) => (
        <>
          {children(data)}
          <Pagination label={label} page={page} pageSize={pageSize} total={data.total} onPage={onPage} />
        </>
      )}
    </QueryView>
  );
}
