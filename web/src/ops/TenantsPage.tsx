import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { TENANT_STATUSES } from '../../../shared/schemas/ops.ts';
import { ORGANIZATION_TIERS } from '../../../shared/schemas/tenancy.ts';
import { useTRPC } from '../trpc.ts';
import { Button } from '../ui/Button.tsx';
import { DataTable } from '../ui/DataTable.tsx';
import { Field, SelectField } from '../ui/Field.tsx';
import { formatDate } from '../ui/format.ts';
import { Section } from '../ui/layout.tsx';
import { PagedQueryView } from '../ui/PagedQueryView.tsx';
import { AuditTrail } from './AuditTrail.tsx';
import { formatInt } from './format.ts';
import { oneOf, useUrlState } from './url.ts';

const PAGE_SIZE = 25;

/** Every organization, searchable and filtered by tier and status; all of it in the URL. */
export function TenantsPage() {
  const trpc = useTRPC();
  const { get, set, page } = useUrlState();
  const query = get('q');
  const tier = oneOf(get('tier'), ['', ...ORGANIZATION_TIERS] as const, '');
  const status = oneOf(get('status'), ['', ...TENANT_STATUSES] as const, '');
  const [draft, setDraft] = useState(query);
  const list = useQuery(
    trpc.ops.tenants.list.queryOptions(
      {
        query: query || undefined,
        tier: tier || undefined,
        status: status || undefined,
        limit: PAGE_SIZE,
        offset: (page - 1) * PAGE_SIZE,
      },
      { placeholderData: keepPreviousData },
    ),
  );
  const submit = (e: FormEvent) => {
    e.preventDefault();
    set({ q: draft.trim() });
  };
  const filtered = Boolean(query || tier || status);
  return (
    <div className="page">
      <div className="page-title">
        <h1>Tenants</h1>
      </div>
      <Section title="Tenants">
        <form role="search" className="filters" onSubmit={submit} aria-label="Tenant filters">
          <Field
            label="Search tenants"
            type="search"
            placeholder="Name or slug"
            maxLength={120}
            value={draft}
            onChange={(e) => setDraft(e.target.value)}
          />
          <SelectField label="Tier" value={tier} onChange={(e) => set({ tier: e.target.value })}>
            <option value="">All tiers</option>
            {ORGANIZATION_TIERS.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </SelectField>
          <SelectField label="Status" value={status} onChange={(e) => set({ status: e.target.value })}>
            <option value="">Any status</option>
            <option value="active">Active</option>
            <option value="suspended">Suspended</option>
          </SelectField>
          <div className="filters-actions">
            <Button type="submit" variant="primary">
              Search
            </Button>
            {filtered ? (
              <Button
                onClick={() => {
                  setDraft('');
                  set({ q: null, tier: null, status: null });
                }}
              >
                Clear
              </Button>
            ) : null}
          </div>
        </form>
        <PagedQueryView
          query={list}
          loading="Loading tenants…"
          none={filtered ? 'No tenant matches these filters' : 'No tenants yet'}
          label="Tenant pages"
          page={page}
          pageSize={PAGE_SIZE}
          onPage={(p) => set({ page: p })}
        >
          {(data) => (
            <DataTable
              columns={['Tenant', 'Tier', 'Status', 'Members', 'Created']}
              busy={list.isPlaceholderData}
            >
              {data.items.map((o) => (
                <tr key={o.id}>
                  <td>
                    <Link to={`/ops/tenants/${o.id}`}>{o.name}</Link>
                    <div className="muted small">
                      <code>{o.slug}</code>
                    </div>
                  </td>
                  <td className="capitalize">{o.tier}</td>
                  <td>
                    <span className={o.active ? 'badge badge-ok' : 'badge badge-bad'}>
                      {o.active ? 'Active' : 'Suspended'}
                    </span>
                  </td>
                  <td>{formatInt(o.members)}</td>
                  <td>{formatDate(o.createdAt)}</td>
                </tr>
              ))}
            </DataTable>
          )}
        </PagedQueryView>
      </Section>
      <AuditTrail title="Tenant actions" targetType="organization" showTarget />
    </div>
  );
}
