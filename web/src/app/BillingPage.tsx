import { useMutation, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { useTRPC } from '../trpc.ts';
import { Button } from '../ui/Button.tsx';
import { ConfirmDialog } from '../ui/ConfirmDialog.tsx';
import { isRetryable, messageOf } from '../ui/errors.ts';
import { SelectField } from '../ui/Field.tsx';
import { formatDate } from '../ui/format.ts';
import { Section } from '../ui/layout.tsx';
import { EmptyState } from '../ui/states.tsx';
import {
  FailNextPayment,
  PayOpenInvoice,
  SandboxBanner,
  SubscribeForm,
  useRefreshOverview,
  type Overview,
  type Subscription,
} from './BillingControls.tsx';
import { QueryView } from '../ui/QueryView.tsx';

const money = (cents: number, currency: string) =>
  new Intl.NumberFormat(undefined, { style: 'currency', currency: currency.toUpperCase() }).format(
    cents / 100,
  );

/** The server answers SERVICE_UNAVAILABLE with this reason when no Stripe key is set: a state, not a fault. */
function notConfigured(error: unknown): boolean {
  const details = (error as { data?: { details?: { reason?: string } } } | null)?.data?.details;
  return details?.reason === 'billing_not_configured';
}

export function BillingPage() {
  const trpc = useTRPC();
  const overview = useQuery(
    trpc.billing.overview.queryOptions(undefined, {
      retry: (failures, error) => !notConfigured(error) && isRetryable(error) && failures < 2,
    }),
  );
  return (
    <div className="page">
      <header className="page-head">
        <h1>Billing</h1>
      </header>
      <QueryView
        query={overview}
        loading="Loading billing…"
        known={(error) =>
          notConfigured(error) ? (
            <EmptyState title="Billing is not set up on this server">
              <p>There is no plan to manage here. An operator can configure Stripe to enable billing.</p>
            </EmptyState>
          ) : undefined
        }
      >
        {(data) => <BillingBody data={data} />}
      </QueryView>
    </div>
  );
}

function BillingBody({ data }: { data: Overview }) {
  const sub = data.subscription;
  return (
    <>
      {data.sandbox ? <SandboxBanner /> : null}
      {data.suspended ? (
        <div className="notice notice-danger" role="alert">
          This account is suspended ({data.entitlement.reason.replaceAll('_', ' ')}). Settle the open invoice
          or choose a plan to restore it.
        </div>
      ) : null}
      {!data.configured ? (
        <p className="notice notice-warning">
          Billing is not configured on this server; changes are unavailable.
        </p>
      ) : null}
      <div className="columns">
        <Section title="Plan">
          {sub ? (
            <SubscriptionFacts sub={sub} />
          ) : (
            <EmptyState title="No subscription">
              <p>This organization is on the {data.entitlement.tier} tier.</p>
            </EmptyState>
          )}
          {data.configured ? <SubscribeForm sub={sub} plans={data.plans} /> : null}
          {sub && data.configured ? <PayOpenInvoice sub={sub} /> : null}
          {sub && data.configured ? <SubscriptionActions sub={sub} plans={data.plans} /> : null}
          {sub && data.sandbox ? <FailNextPayment sub={sub} /> : null}
          {data.configured ? <Portal /> : null}
        </Section>
        <Section title="Invoices">
          {data.invoices.length === 0 ? (
            <EmptyState title="No invoices yet" />
          ) : (
            <table className="table">
              <thead>
                <tr>
                  <th scope="col">Date</th>
                  <th scope="col">Number</th>
                  <th scope="col">Amount</th>
                  <th scope="col">Status</th>
                </tr>
              </thead>
              <tbody>
                {data.invoices.map((i) => (
                  <tr key={i.id}>
                    <td>{formatDate(i.createdAt)}</td>
                    <td>
                      {i.hostedUrl ? (
                        <a href={i.hostedUrl} target="_blank" rel="noreferrer">
                          {i.number ?? i.id}
                        </a>
                      ) : (
                        (i.number ?? i.id)
                      )}
                    </td>
                    <td>{money(i.amountDue, i.currency)}</td>
                    <td className="capitalize">{i.status ?? '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Section>
      </div>
    </>
  );
}

function SubscriptionFacts({ sub }: { sub: Subscription }) {
  return (
    <dl className="facts">
      <div>
        <dt>Plan</dt>
        <dd>{sub.plan.name ?? sub.plan.price}</dd>
      </div>
      <div>
        <dt>Status</dt>
        <dd className="capitalize">{sub.status.replaceAll('_', ' ')}</dd>
      </div>
      {sub.failedPaymentAttempts > 0 ? (
        <div>
          <dt>Failed payments</dt>
          <dd>{sub.failedPaymentAttempts}</dd>
        </div>
      ) : null}
      {sub.trialEndsAt ? (
        <div>
          <dt>Trial ends</dt>
          <dd>{formatDate(sub.trialEndsAt)}</dd>
        </div>
      ) : null}
      {sub.renewsAt ? (
        <div>
          <dt>Renews</dt>
          <dd>{formatDate(sub.renewsAt)}</dd>
        </div>
      ) : null}
      {sub.endsAt ? (
        <div>
          <dt>Ends</dt>
          <dd>{formatDate(sub.endsAt)}</dd>
        </div>
      ) : null}
    </dl>
  );
}

function SubscriptionActions({ sub, plans }: { sub: Subscription; plans: Overview['plans'] }) {
  const trpc = useTRPC();
  const refresh = useRefreshOverview();
  const [confirmCancel, setConfirmCancel] = useState(false);
  const [price, setPrice] = useState(sub.plan.price);
  const cancel = useMutation(
    trpc.billing.cancel.mutationOptions({
      onSuccess: async () => {
        await refresh();
        setConfirmCancel(false);
      },
    }),
  );
  const resume = useMutation(trpc.billing.resume.mutationOptions({ onSuccess: () => void refresh() }));
  const swap = useMutation(trpc.billing.swap.mutationOptions({ onSuccess: () => void refresh() }));
  const error = resume.error ?? swap.error;
  return (
    <div className="form">
      {sub.cancelAtPeriodEnd ? (
        <Button variant="primary" busy={resume.isPending} onClick={() => resume.mutate()}>
          Resume subscription
        </Button>
      ) : sub.status !== 'canceled' ? (
        <Button variant="danger" onClick={() => setConfirmCancel(true)}>
          Cancel subscription
        </Button>
      ) : null}
      {plans.length > 1 ? (
        <div className="search">
          <SelectField label="Change plan" value={price} onChange={(e) => setPrice(e.target.value)}>
            {plans.map((p) => (
              <option key={p.price} value={p.price}>
                {p.name}
              </option>
            ))}
          </SelectField>
          <Button
            disabled={price === sub.plan.price}
            busy={swap.isPending}
            onClick={() => swap.mutate({ price, prorate: true })}
          >
            Switch plan
          </Button>
        </div>
      ) : null}
      {error ? (
        <p className="field-error" role="alert">
          {messageOf(error)}
        </p>
      ) : null}
      <ConfirmDialog
        open={confirmCancel}
        title="Cancel the subscription?"
        confirmLabel="Cancel at period end"
        danger
        busy={cancel.isPending}
        error={cancel.isError ? messageOf(cancel.error) : null}
        onConfirm={() => cancel.mutate({ when: 'period_end' })}
        onCancel={() => setConfirmCancel(false)}
      >
        <p>
          The organization keeps its plan until{' '}
          {sub.currentPeriodEnd ? formatDate(sub.currentPeriodEnd) : 'the end of the period'} and can resume
          until then.
        </p>
      </ConfirmDialog>
    </div>
  );
}

function Portal() {
  const trpc = useTRPC();
  const portal = useMutation(
    trpc.billing.portal.mutationOptions({ onSuccess: ({ url }) => window.location.assign(url) }),
  );
  return (
    <p>
      <Button
        variant="link"
        busy={portal.isPending}
        onClick={() => portal.mutate({ returnUrl: window.location.href })}
      >
        Payment methods and billing details
      </Button>
      {portal.isError ? <span className="field-error block">{messageOf(portal.error)}</span> : null}
    </p>
  );
}
