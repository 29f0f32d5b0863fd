import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { OPS_TARGET_TYPES } from '../../../shared/schemas/ops.ts';
import { useTRPC } from '../trpc.ts';
import { SelectField } from '../ui/Field.tsx';
import { Section } from '../ui/layout.tsx';
import { PagedQueryView } from '../ui/PagedQueryView.tsx';
import { AuditTable } from './AuditTrail.tsx';
import { oneOf, useUrlState } from './url.ts';

const PAGE_SIZE = 50;

/** Every operator action, newest first, filtered by kind of target (in the URL). */
export function AuditPage() {
  const trpc = useTRPC();
  const { get, set, page } = useUrlState();
  const targetType = oneOf(get('target'), ['', ...OPS_TARGET_TYPES] as const, '');
  const list = useQuery(
    trpc.ops.audit.list.queryOptions(
      { targetType: targetType || undefined, limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE },
      { placeholderData: keepPreviousData, refetchInterval: 10_000 },
    ),
  );
  return (
    <div className="page">
      <div className="page-title">
        <h1>Audit log</h1>
      </div>
      <Section
        title="Operator actions"
        aside={
          <SelectField label="Target" value={targetType} onChange={(e) => set({ target: e.target.value })}>
            <option value="">Everything</option>
            {OPS_TARGET_TYPES.map((t) => (
              <option key={t} value={t}>
                {t.replace('_', ' ')}
              </option>
            ))}
          </SelectField>
        }
      >
        <PagedQueryView
          query={list}
          loading="Loading the audit log…"
          none="No operator actions yet"
          label="Audit log pages"
          page={page}
          pageSize={PAGE_SIZE}
          onPage={(p) => set({ page: p })}
        >
          {(data) => <AuditTable entries={data.items} showTarget busy={list.isPlaceholderData} />}
        </PagedQueryView>
      </Section>
    </div>
  );
}
