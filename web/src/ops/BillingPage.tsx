import { keepPreviousData, useMutation, useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { SUBSCRIPTION_STATUSES } from '../../../shared/schemas/billing.ts';
import { useTRPC } from '../trpc.ts';
import { Button } from '../ui/Button.tsx';
import { DataTable } from '../ui/DataTable.tsx';
import { messageOf } from '../ui/errors.ts';
import { Field, FormError, SelectField } from '../ui/Field.tsx';
import { formatDate } from '../ui/format.ts';
import { Section } from '../ui/layout.tsx';
import { PagedQueryView } from '../ui/PagedQueryView.tsx';
import { pageFrom } from '../ui/Pagination.tsx';
import { AuditTrail } from './AuditTrail.tsx';
import { formatTimestamp, shortId } from './format.ts';
import { oneOf, useUrlState } from './url.ts';
import { useInvalidate } from '../invalidate.ts';

const PAGE_SIZE = 25;
const EVENT_STATES = ['all', 'pending', 'failed', 'processed'] as const;

export function BillingPage() {
  return (
    <div className="page">
      <div className="page-title">
        <h1>Billing</h1>
      </div>
      <WebhookLog />
      <Subscriptions />
      <AuditTrail title="Webhook replays" targetType="stripe_event" showTarget />
    </div>
  );
}

/** Every Stripe webhook Keel received: state and type filters and the page in the URL; replay re-queues one. */
function WebhookLog() {
  const trpc = useTRPC();
  const invalidate = useInvalidate();
  const { get, set, params } = useUrlState();
  const state = oneOf(get('state'), EVENT_STATES, 'all');
  const type = get('type');
  const page = pageFrom(params.get('page'));
  const [draft, setDraft] = useState(type);
  const events = useQuery(
    trpc.ops.billing.events.list.queryOptions(
      { state, type: type || undefined, limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE },
      { placeholderData: keepPreviousData, refetchInterval: 5_000 },
    ),
  );
  const replay = useMutation(
    trpc.ops.billing.events.replay.mutationOptions({
      onSuccess: () => invalidate(trpc.ops.billing, trpc.ops.audit),
    }),
  );
  const submit = (e: FormEvent) => {
    e.preventDefault();
    set({ type: draft.trim() });
  };
  return (
    <Section title="Stripe webhook log">
      <form role="search" className="filters" onSubmit={submit} aria-label="Webhook filters">
        <SelectField
          label="State"
          value={state}
          onChange={(e) => set({ state: e.target.value === 'all' ? null : e.target.value })}
        >
          <option value="all">All</option>
          <option value="pending">Pending</option>
          <option value="failed">Failed</option>
          <option value="processed">Processed</option>
        </SelectField>
        <Field
          label="Event type"
          placeholder="e.g. invoice.payment_failed"
          maxLength={100}
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
        />
        <div className="filters-actions">
          <Button type="submit" variant="primary">
            Filter
          </Button>
        </div>
      </form>
      <FormError>{replay.error ? messageOf(replay.error) : null}</FormError>
      {replay.data ? (
        <p className="notice" role="status">
          {replay.data.queued
            ? `Event ${replay.data.eventId} queued for processing again.`
            : `Event ${replay.data.eventId} is already queued.`}
        </p>
      ) : null}
      <PagedQueryView
        query={events}
        loading="Loading webhook events…"
        none={
          state !== 'all' || type
            ? 'No webhook event matches these filters'
            : 'No Stripe webhook has been received yet'
        }
        label="Webhook log pages"
        page={page}
        pageSize={PAGE_SIZE}
        onPage={(p) => set({ page: p })}
      >
        {(data) => (
          <DataTable
            columns={[
              'Event',
              'Organization',
              'Received',
              'Processed',
              'Attempts',
              'Error',
              { label: 'Actions', hidden: true },
            ]}
            busy={events.isPlaceholderData}
          >
            {data.items.map((e) => (
              <tr key={e.id} aria-label={`${e.type} ${e.id}`}>
                <td>
                  <code>{e.type}</code>
                  <div className="muted small">
                    <code>{e.id}</code>
                  </div>
                </td>
                <td>
                  {e.organizationId ? (
                    <Link to={`/ops/tenants/${e.organizationId}`}>
                      <code>{shortId(e.organizationId)}</code>
                    </Link>
                  ) : (
                    '—'
                  )}
                </td>
                <td className="nowrap">{formatTimestamp(e.receivedAt)}</td>
                <td>
                  {e.processedAt ? (
                    <span className="badge badge-ok">{formatTimestamp(e.processedAt)}</span>
                  ) : (
                    <span className={e.error ? 'badge badge-bad' : 'badge badge-warn'}>
                      {e.error ? 'failed' : 'pending'}
                    </span>
                  )}
                </td>
                <td>{e.attempts}</td>
                <td className="error-cell" title={e.error ?? undefined}>
                  {e.error ?? ''}
                </td>
                <td>
                  <Button
                    onClick={() => replay.mutate({ eventId: e.id })}
                    busy={replay.isPending && replay.variables.eventId === e.id}
                    aria-label={`Replay ${e.id}`}
                  >
                    Replay
                  </Button>
                </td>
              </tr>
            ))}
          </DataTable>
        )}
      </PagedQueryView>
    </Section>
  );
}

/** Subscriptions across tenants by status; the status and page are in the URL (`sub`, `subpage`). */
function Subscriptions() {
  const trpc = useTRPC();
  const { get, set, params } = useUrlState();
  const status = oneOf(get('sub'), ['', ...SUBSCRIPTION_STATUSES] as const, '');
  const page = pageFrom(params.get('subpage'));
  const subs = useQuery(
    trpc.ops.billing.subscriptions.list.queryOptions(
      { status: status || undefined, limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE },
      { placeholderData: keepPreviousData },
    ),
  );
  return (
    <Section
      title="Subscriptions"
      aside={
        <SelectField
          label="Subscription status"
          value={status}
          onChange={(e) => set({ sub: e.target.value, subpage: null }, { keepPage: true })}
        >
          <option value="">Any status</option>
          {SUBSCRIPTION_STATUSES.map((s) => (
            <option key={s} value={s}>
              {s.replace('_', ' ')}
            </option>
          ))}
        </SelectField>
      }
    >
      <PagedQueryView
        query={subs}
        loading="Loading subscriptions…"
        none={status ? `No subscription is ${status.replace('_', ' ')}` : 'No subscriptions yet'}
        label="Subscription pages"
        page={page}
        pageSize={PAGE_SIZE}
        onPage={(p) => set({ subpage: p }, { keepPage: true })}
      >
        {(data) => (
          <DataTable
            columns={['Organization', 'Status', 'Price', 'Period ends', 'Failed payments', 'Since']}
            busy={subs.isPlaceholderData}
          >
            {data.items.map((s) => (
              <tr key={s.stripeId}>
                <td>
                  <Link to={`/ops/tenants/${s.organization.id}`}>{s.organization.name}</Link>
                  {!s.organization.active ? <span className="badge badge-bad">suspended</span> : null}
                </td>
                <td>
                  <span
                    className={
                      s.status === 'active' || s.status === 'trialing' ? 'badge badge-ok' : 'badge badge-warn'
                    }
                  >
                    {s.status.replace('_', ' ')}
                  </span>
                </td>
                <td>
                  <code>{s.price}</code> × {s.quantity}
                </td>
                <td>{s.currentPeriodEnd ? formatDate(s.currentPeriodEnd) : '—'}</td>
                <td>{s.failedPaymentAttempts}</td>
                <td>{formatDate(s.createdAt)}</td>
              </tr>
            ))}
          </DataTable>
        )}
      </PagedQueryView>
    </Section>
  );
}
