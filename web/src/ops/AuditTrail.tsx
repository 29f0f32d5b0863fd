import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import type { OpsTargetType } from '../../../shared/schemas/ops.ts';
import { useTRPC, type RouterOutputs } from '../trpc.ts';
import { Section } from '../ui/layout.tsx';
import { Pagination } from '../ui/Pagination.tsx';
import { formatTimestamp } from './format.ts';
import { QueryView } from '../ui/QueryView.tsx';

export type AuditEntry = RouterOutputs['ops']['audit']['list']['items'][number];

const PAGE_SIZE = 10;

/** What details an entry carries, as one line: the reason first, then the rest. */
export function describeDetails(details: AuditEntry['details']): string {
  const { reason, ...rest } = details as Record<string, unknown>;
  const parts = Object.entries(rest)
    .filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return [typeof reason === 'string' ? `“${reason}”` : null, ...parts].filter(Boolean).join(' · ');
}

/**
 * The operator audit log for one kind of target (and optionally one target): shown on the page where those
 * actions are taken, so an operator sees who did what here before acting again.
 */
export function AuditTrail({
  title = 'Operator actions',
  targetType,
  targetId,
  showTarget = false,
}: {
  title?: string;
  targetType?: OpsTargetType;
  targetId?: string;
  showTarget?: boolean;
}) {
  const trpc = useTRPC();
  const [page, setPage] = useState(1);
  const list = useQuery(
    trpc.ops.audit.list.queryOptions(
      { targetType, targetId, limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE },
      { placeholderData: keepPreviousData },
    ),
  );
  return (
    <Section title={title}>
      <QueryView
        query={list}
        loading="Loading operator actions…"
        empty={{ when: (data) => data.items.length === 0, title: 'No operator actions recorded here yet' }}
      >
        {(data) => (
          <>
            <AuditTable entries={data.items} showTarget={showTarget} busy={list.isPlaceholderData} />
            {data.total > PAGE_SIZE ? (
              <Pagination
                label={`${title} pages`}
                page={page}
                pageSize={PAGE_SIZE}
                total={data.total}
                onPage={setPage}
              />
            ) : null}
          </>
        )}
      </QueryView>
    </Section>
  );
}

export function AuditTable({
  entries,
  showTarget,
  busy = false,
}: {
  entries: AuditEntry[];
  showTarget: boolean;
  busy?: boolean;
}) {
  return (
    <div className="table-scroll">
      <table className="table" aria-busy={busy || undefined}>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Operator</th>
            <th scope="col">Action</th>
            {showTarget ? <th scope="col">Target</th> : null}
            <th scope="col">Details</th>
          </tr>
        </thead>
        <tbody>
          {entries.map((e) => (
            <tr key={e.id}>
              <td className="nowrap">
                <time dateTime={e.createdAt.toISOString()}>{formatTimestamp(e.createdAt)}</time>
              </td>
              <td>{e.operator}</td>
              <td>
                <code>{e.action}</code>
              </td>
              {showTarget ? (
                <td>
                  {e.targetType}
                  {e.targetId ? (
                    <>
                      {' '}
                      <code className="small">{e.targetId}</code>
                    </>
                  ) : null}
                </td>
              ) : null}
              <td className="wrap-anywhere">{describeDetails(e.details)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
