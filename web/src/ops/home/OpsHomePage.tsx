import { useQuery } from '@tanstack/react-query';
import { useTRPC } from '../../trpc.ts';
import { appCodeOf } from '../../ui/errors.ts';
import { SelectField } from '../../ui/Field.tsx';
import { Stat } from '../../ui/layout.tsx';
import { QueryView } from '../../ui/QueryView.tsx';
import { HealthStrip } from '../HealthStrip.tsx';
import { StaffOnly } from '../StaffOnly.tsx';
import { oneOf, useUrlState } from '../url.ts';
import { Charts, RANGE_LABELS, RANGES } from './Charts.tsx';
import { Organizations } from './Organizations.tsx';

/** The console's first page: fleet figures, health, charts for a range (in the URL) and the organizations. */
export function OpsHomePage() {
  const trpc = useTRPC();
  const { get, set } = useUrlState();
  const range = oneOf(get('range'), RANGES, '1h');
  const overview = useQuery(trpc.ops.overview.queryOptions());
  if (appCodeOf(overview.error) === 'STAFF_ONLY') return <StaffOnly />;
  return (
    <div className="page">
      <div className="page-title">
        <h1>Operations</h1>
        <SelectField
          label="Range"
          value={range}
          onChange={(e) =>
            set({ range: e.target.value === '1h' ? null : e.target.value }, { keepPage: true })
          }
        >
          {RANGES.map((r) => (
            <option key={r} value={r}>
              {RANGE_LABELS[r]}
            </option>
          ))}
        </SelectField>
      </div>
      <QueryView query={overview} loading="Loading overview…">
        {(data) => (
          <div className="stats" aria-label="Overview">
            <Stat label="Organizations" value={data.organizations} />
            <Stat label="Active organizations" value={data.activeOrganizations} />
            <Stat label="Users" value={data.users} />
            <Stat label="Staff" value={data.staff} />
          </div>
        )}
      </QueryView>
      <HealthStrip />
      <Charts range={range} />
      <Organizations />
    </div>
  );
}
