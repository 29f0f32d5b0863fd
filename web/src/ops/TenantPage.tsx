import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useId, useState } from 'react';
import { Link, useParams } from 'react-router';
import { useInvalidate } from '../invalidate.ts';
import { useTRPC, type RouterOutputs } from '../trpc.ts';
import { Button } from '../ui/Button.tsx';
import { ConfirmDialog } from '../ui/ConfirmDialog.tsx';
import { DataTable } from '../ui/DataTable.tsx';
import { appCodeOf, fieldErrorsOf, messageOf } from '../ui/errors.ts';
import { formatDate, formatDateTime } from '../ui/format.ts';
import { Section, Stat } from '../ui/layout.tsx';
import { Pagination } from '../ui/Pagination.tsx';
import { EmptyState } from '../ui/states.tsx';
import { AuditTrail, describeDetails } from './AuditTrail.tsx';
import { formatInt } from './format.ts';
import { QueryView } from '../ui/QueryView.tsx';
import { TenantSchedules } from './TenantSchedules.tsx';

type Tenant = RouterOutputs['ops']['tenants']['get'];
const MEMBERS_PAGE = 20;

/** One tenant: details, usage, subscription, members; suspend and reactivate with a reason, both audited. */
export function TenantPage() {
  const { id = '' } = useParams();
  const trpc = useTRPC();
  const tenant = useQuery(trpc.ops.tenants.get.queryOptions({ id }));
  return (
    <QueryView
      query={tenant}
      loading="Loading tenant…"
      known={(error) =>
        appCodeOf(error) === 'NOT_FOUND' || appCodeOf(error) === 'VALIDATION_FAILED' ? (
          <EmptyState title="There is no tenant at this address">
            <Link to="/ops/tenants">← Tenants</Link>
          </EmptyState>
        ) : undefined
      }
    >
      {(data) => <TenantDetail tenant={data} />}
    </QueryView>
  );
}

function TenantDetail({ tenant }: { tenant: Tenant }) {
  const o = tenant.organization;
  const u = tenant.usage;
  const s = tenant.subscription;
  const last = tenant.lastStatusChange;
  return (
    <div className="page">
      <p>
        <Link to="/ops/tenants">← Tenants</Link>
      </p>
      <div className="page-title">
        <h1>{o.name}</h1>
        <span
          className={o.active ? 'badge badge-ok' : 'badge badge-bad'}
          role="status"
          aria-label={`Status: ${o.active ? 'active' : 'suspended'}`}
        >
          {o.active ? 'Active' : 'Suspended'}
        </span>
        <span className="badge capitalize">{o.tier}</span>
      </div>
      {!o.active ? (
        <div className="banner banner-bad" role="alert">
          <strong>Suspended.</strong> Its members and API tokens are refused (billing stays reachable so the
          owner can pay).
          {last?.action === 'tenant.suspend' ? (
            <>
              {' '}
              By {last.operator} on {formatDateTime(last.createdAt)}:{' '}
              {describeDetails({ reason: last.details.reason ?? null })}
            </>
          ) : s?.suspendedAt ? (
            <> Suspended by billing (dunning) on {formatDateTime(s.suspendedAt)}.</>
          ) : null}
        </div>
      ) : null}
      <StatusControl tenant={tenant} />
      <div className="stats" aria-label="Usage">
        <Stat label="Members" value={formatInt(u.members)} />
        <Stat label="Documents" value={formatInt(u.documents)} />
        <Stat label="Active API tokens" value={formatInt(u.activeApiTokens)} />
        <Stat label="Activity, 30 days" value={formatInt(u.activityLast30Days)} />
        <Stat
          label="Requests, 24 hours"
          value={u.requestsLast24Hours === null ? '—' : formatInt(u.requestsLast24Hours)}
        />
        <Stat
          label="Failed jobs"
          value={
            u.failedJobs ? <Link to={`/ops/jobs?list=failed&org=${o.id}`}>{formatInt(u.failedJobs)}</Link> : 0
          }
        />
      </div>
      <div className="columns">
        <Section title="Details">
          <dl className="facts facts-grid">
            <dt>Id</dt>
            <dd>
              <code>{o.id}</code>
            </dd>
            <dt>Slug</dt>
            <dd>
              <code>{o.slug}</code>
            </dd>
            <dt>Billing email</dt>
            <dd>{o.billingEmail ?? '—'}</dd>
            <dt>Stripe customer</dt>
            <dd>{o.stripeCustomerId ? <code>{o.stripeCustomerId}</code> : '—'}</dd>
            <dt>Created</dt>
            <dd>{formatDate(o.createdAt)}</dd>
          </dl>
        </Section>
        <Section title="Subscription">
          {s ? (
            <dl className="facts facts-grid">
              <dt>Status</dt>
              <dd>
                <span
                  className={
                    s.status === 'active' || s.status === 'trialing' ? 'badge badge-ok' : 'badge badge-warn'
                  }
                >
                  {s.status.replace('_', ' ')}
                </span>
              </dd>
              <dt>Price</dt>
              <dd>
                <code>{s.price}</code> × {s.quantity}
              </dd>
              <dt>Period ends</dt>
              <dd>{s.currentPeriodEnd ? formatDate(s.currentPeriodEnd) : '—'}</dd>
              <dt>Trial ends</dt>
              <dd>{s.trialEndsAt ? formatDate(s.trialEndsAt) : '—'}</dd>
              <dt>Ends</dt>
              <dd>{s.endsAt ? formatDate(s.endsAt) : s.cancelAtPeriodEnd ? 'at period end' : '—'}</dd>
              <dt>Failed payments</dt>
              <dd>{s.failedPaymentAttempts}</dd>
              <dt>Stripe id</dt>
              <dd>
                <code>{s.stripeId}</code>
              </dd>
            </dl>
          ) : (
            <EmptyState title="No subscription" />
          )}
        </Section>
      </div>
      <Members tenant={tenant} />
      <TenantSchedules organizationId={o.id} />
      <AuditTrail title="Operator actions on this tenant" targetType="organization" targetId={o.id} />
    </div>
  );
}

function StatusControl({ tenant }: { tenant: Tenant }) {
  const trpc = useTRPC();
  const invalidate = useInvalidate();
  const reasonId = useId();
  const o = tenant.organization;
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState('');
  const done = async () => {
    setOpen(false);
    setReason('');
    await invalidate(trpc.ops.tenants, trpc.ops.organizations, trpc.ops.overview, trpc.ops.audit);
  };
  const suspend = useMutation(trpc.ops.tenants.suspend.mutationOptions({ onSuccess: done }));
  const reactivate = useMutation(trpc.ops.tenants.reactivate.mutationOptions({ onSuccess: done }));
  const action = o.active ? suspend : reactivate;
  const reasonErrors = fieldErrorsOf(action.error).reason;
  return (
    <>
      <div className="toolbar">
        {o.active ? (
          <Button variant="danger" onClick={() => setOpen(true)}>
            Suspend tenant…
          </Button>
        ) : (
          <Button variant="primary" onClick={() => setOpen(true)}>
            Reactivate tenant…
          </Button>
        )}
      </div>
      <ConfirmDialog
        open={open}
        title={o.active ? `Suspend ${o.name}?` : `Reactivate ${o.name}?`}
        confirmLabel={o.active ? 'Suspend' : 'Reactivate'}
        danger={o.active}
        confirmText={o.active ? o.slug : undefined}
        busy={action.isPending}
        error={action.error && !reasonErrors ? messageOf(action.error) : null}
        onConfirm={() =>
          o.active
            ? suspend.mutate({ id: o.id, reason })
            : reactivate.mutate({ id: o.id, ...(reason.trim() ? { reason } : {}) })
        }
        onCancel={() => {
          setOpen(false);
          action.reset();
        }}
      >
        <p>
          {o.active
            ? `Its ${tenant.usage.members} members and its API tokens are refused from their next request; live connections close. Nothing is deleted.`
            : 'Its members and API tokens can use Keel again from their next request.'}
        </p>
        <div className={reasonErrors ? 'field field-invalid' : 'field'}>
          <label htmlFor={reasonId}>
            {o.active ? 'Reason (kept in the audit log)' : 'Reason (optional)'}
          </label>
          <textarea
            id={reasonId}
            rows={2}
            maxLength={500}
            value={reason}
            onChange={(e) => setReason(e.target.value)}
            aria-invalid={Boolean(reasonErrors) || undefined}
          />
          {reasonErrors ? <p className="field-error">Reason {reasonErrors.join('; ')}</p> : null}
        </div>
      </ConfirmDialog>
    </>
  );
}

function Members({ tenant }: { tenant: Tenant }) {
  const trpc = useTRPC();
  const [page, setPage] = useState(1);
  const id = tenant.organization.id;
  const queryClient = useQueryClient();
  // The first page came with the tenant (and is as fresh as it); later pages are fetched.
  const members = useQuery(
    trpc.ops.tenants.members.queryOptions(
      { id, limit: MEMBERS_PAGE, offset: (page - 1) * MEMBERS_PAGE },
      {
        placeholderData: keepPreviousData,
        initialData: () => (page === 1 ? tenant.members : undefined),
        initialDataUpdatedAt: () =>
          queryClient.getQueryState(trpc.ops.tenants.get.queryKey({ id }))?.dataUpdatedAt,
      },
    ),
  );
  return (
    <Section title="Members">
      <QueryView
        query={members}
        loading="Loading members…"
        empty={{ when: (data) => data.items.length === 0, title: 'No members' }}
      >
        {(data) => (
          <>
            <DataTable columns={['Name', 'Email', 'Role', 'Last active', 'Joined']}>
              {data.items.map((m) => (
                <tr key={m.userId}>
                  <td>
                    {m.name}
                    {m.staff ? <span className="badge"> staff</span> : null}
                  </td>
                  <td>{m.email}</td>
                  <td className="capitalize">{m.role}</td>
                  <td>{m.lastActiveAt ? formatDateTime(m.lastActiveAt) : '—'}</td>
                  <td>{formatDate(m.joinedAt)}</td>
                </tr>
              ))}
            </DataTable>
            {data.total > MEMBERS_PAGE ? (
              <Pagination
                label="Member pages"
                page={page}
                pageSize={MEMBERS_PAGE}
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
