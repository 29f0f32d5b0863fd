import type { ReactNode } from 'react';

/** A column heading; `hidden` keeps it for screen readers only (e.g. a column of row actions). */
export type Column = string | { label: string; hidden: true };

/**
 * The console's and app's data table: horizontally scrollable, marked busy while a newer page loads, with one
 * row of column headings. Rows are the children.
 */
export function DataTable({
  columns,
  busy,
  children,
}: {
  columns: readonly Column[];
  busy?: boolean;
  children: ReactNode;
}) {
  return (
    <div className="table-scroll">
      <table className="table" aria-busy={busy || undefined}>
        <thead>
          <tr>
            {columns.map((c) =>
              typeof c === 'string' ? (
                <th key={c} scope="col">
                  {c}
                </th>
              ) : (
                <th key={c.label} scope="col">
                  <span className="visually-hidden">{c.label}</span>
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}
