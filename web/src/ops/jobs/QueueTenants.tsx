import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { QUEUES } from '../../../../shared/schemas/jobs.ts';
import { useTRPC } from '../../trpc.ts';
import { DataTable } from '../../ui/DataTable.tsx';
import { SelectField } from '../../ui/Field.tsx';
import { Section } from '../../ui/layout.tsx';
import { QueryView } from '../../ui/QueryView.tsx';
import { formatInt } from '../format.ts';
import { oneOf, useUrlState } from '../url.ts';

/**
 * One queue's organizations (ADR 0024): the jobs each has waiting and the slots it holds against its plan's cap, the
 * busiest first. The queue is kept in the URL, as the charts' is.
 */
export function QueueTenants() {
  const trpc = useTRPC();
  const { get, set } = useUrlState();
  const queue = oneOf(get('tenantsQueue'), QUEUES, 'default');
  const tenants = useQuery(
    trpc.ops.queues.tenants.queryOptions(
      { queue },
      { placeholderData: keepPreviousData, refetchInterval: 5_000 },
    ),
  );
  return (
    <Section
      title="Organizations in the queue"
      aside={
        <SelectField
          label="Queue"
          value={queue}
          onChange={(e) => set({ tenantsQueue: e.target.value }, { keepPage: true })}
        >
          {QUEUES.map((q) => (
            <option key={q} value={q}>
              {q}
            </option>
          ))}
        </SelectField>
      }
    >
      <QueryView
        query={tenants}
        loading="Loading organizations…"
        empty={{
          when: (data) => data.length === 0,
          title: `No organization has jobs waiting or running in ${queue}`,
        }}
      >
        {(data) => (
          <DataTable columns={['Organization', 'Plan', 'Waiting', 'Running / cap']}>
            {data.map((t) => (
              <tr key={t.organizationId}>
                <th scope="row">
                  <Link to={`/ops/tenants/${t.organizationId}`}>{t.name ?? t.organizationId}</Link>
                </th>
                <td>{t.tier}</td>
                <td>{formatInt(t.waiting)}</td>
                <td>
                  <span className={t.running >= t.cap ? 'badge badge-warn' : undefined}>
                    {formatInt(t.running)} / {formatInt(t.cap)}
                  </span>
                </td>
              </tr>
            ))}
          </DataTable>
        )}
      </QueryView>
    </Section>
  );
}
