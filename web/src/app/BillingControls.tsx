import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useTRPC, type RouterOutputs } from '../trpc.ts';
import { Button } from '../ui/Button.tsx';
import { messageOf } from '../ui/errors.ts';
import { SelectField } from '../ui/Field.tsx';

type Overview = RouterOutputs['billing']['overview'];
type Subscription = NonNullable<Overview['subscription']>;

/** Statuses with an open invoice the owner can pay now. */
const PAYABLE: readonly string[] = ['past_due', 'unpaid', 'suspended', 'incomplete'];
/** Statuses from which a new subscription may be started. */
const ENDED: readonly string[] = ['canceled', 'incomplete_expired'];

function useRefreshOverview() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  return () => queryClient.invalidateQueries({ queryKey: trpc.billing.overview.queryKey() });
}

/** The server bills against Keel's sandbox (development without a Stripe key): say so before anything else. */
export function SandboxBanner() {
  return (
    <div className="notice notice-warning" role="status" aria-label="Billing sandbox">
      <strong>Billing sandbox.</strong> Payments are simulated by Keel&apos;s own Stripe-compatible server and
      nothing is charged; its webhooks reach this server signed as Stripe&apos;s would. Set STRIPE_SECRET_KEY
      to bill with Stripe.
    </div>
  );
}

/** Starting a subscription: shown when the organization has none, or its last one ended. */
export function SubscribeForm({ sub, plans }: { sub: Subscription | null; plans: Overview['plans'] }) {
  const trpc = useTRPC();
  const refresh = useRefreshOverview();
  const [price, setPrice] = useState(plans[0]?.price ?? '');
  const subscribe = useMutation(trpc.billing.subscribe.mutationOptions({ onSuccess: () => void refresh() }));
  if (plans.length === 0 || (sub && !ENDED.includes(sub.status))) return null;
  return (
    <div className="form">
      <div className="search">
        <SelectField label="Choose a plan" value={price} onChange={(e) => setPrice(e.target.value)}>
          {plans.map((p) => (
            <option key={p.price} value={p.price}>
              {p.name}
            </option>
          ))}
        </SelectField>
        <Button variant="primary" busy={subscribe.isPending} onClick={() => subscribe.mutate({ price })}>
          Subscribe
        </Button>
      </div>
      {subscribe.isError ? (
        <p className="field-error" role="alert">
          {messageOf(subscribe.error)}
        </p>
      ) : null}
    </div>
  );
}

/** Paying the open invoice with the card on file: what lifts a past-due state or a dunning suspension. */
export function PayOpenInvoice({ sub }: { sub: Subscription }) {
  const trpc = useTRPC();
  const refresh = useRefreshOverview();
  const pay = useMutation(trpc.billing.retryInvoice.mutationOptions({ onSuccess: () => void refresh() }));
  if (!PAYABLE.includes(sub.status)) return null;
  return (
    <p>
      <Button variant="primary" busy={pay.isPending} onClick={() => pay.mutate()}>
        Pay open invoice
      </Button>
      {pay.isError ? (
        <span className="field-error block" role="alert">
          {messageOf(pay.error)}
        </span>
      ) : null}
    </p>
  );
}

/** Sandbox only: the next payment is declined now, so dunning (emails, then suspension) can be watched. */
export function FailNextPayment({ sub }: { sub: Subscription }) {
  const trpc = useTRPC();
  const refresh = useRefreshOverview();
  const fail = useMutation(
    trpc.billing.sandbox.failNextPayment.mutationOptions({ onSuccess: () => void refresh() }),
  );
  if (ENDED.includes(sub.status)) return null;
  return (
    <p>
      <Button variant="danger" busy={fail.isPending} onClick={() => fail.mutate()}>
        Fail the next payment (sandbox)
      </Button>
      {fail.isError ? (
        <span className="field-error block" role="alert">
          {messageOf(fail.error)}
        </span>
      ) : null}
    </p>
  );
}
