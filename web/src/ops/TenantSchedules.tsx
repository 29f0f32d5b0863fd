import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { useTRPC } from '../trpc.ts';
import { DataTable } from '../ui/DataTable.tsx';
import { formatDateTime } from '../ui/format.ts';
import { Section } from '../ui/layout.tsx';
import { Pagination } from '../ui/Pagination.tsx';
import { QueryView } from '../ui/QueryView.tsx';

const PAGE = 20;

/** The tenant's own schedules (ADR 0023), read-only: tenants create, pause and remove them through the API. */
export function TenantSchedules({ organizationId }: { organizationId: string }) {
  const trpc = useTRPC();
  const [page, setPage] = useState(1);
  const schedules = useQuery(
    trpc.ops.tenants.schedules.queryOptions(
      { id: organizationId, limit: PAGE, offset: (page - 1) * PAGE },
      { placeholderData: keepPreviousData },
    ),
  );
  return (
    <Section title="Schedules">
      <QueryView
        query={schedules}
        loading="Loading schedules…"
        empty={{ when: (data) => data.items.length === 0, title: 'No schedules' }}
      >
        {(data) => (
          <>
            <DataTable columns={['Job', 'Schedule', 'Time zone', 'Next run', 'Last run', 'Last error']}>
              {data.items.map((s) => (
                <tr key={s.id}>
                  <td>
                    <code>{s.job}</code>
                  </td>
                  <td>
                    {s.schedule} <code>{s.cron}</code>
                  </td>
                  <td>{s.timeZone}</td>
                  <td>
                    {s.paused ? (
                      <span className="badge badge-warn">paused</span>
                    ) : s.nextRunAt ? (
                      formatDateTime(s.nextRunAt)
                    ) : (
                      '—'
                    )}
                  </td>
                  <td>{s.lastRunAt ? formatDateTime(s.lastRunAt) : '—'}</td>
                  <td>{s.lastError ?? '—'}</td>
                </tr>
              ))}
            </DataTable>
            {data.total > PAGE ? (
              <Pagination
                label="Schedule pages"
                page={page}
                pageSize={PAGE}
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
