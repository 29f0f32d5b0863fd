import { useMutation } from '@tanstack/react-query';
import { useState, type ReactNode } from 'react';
import { useTRPC, type RouterOutputs } from '../trpc.ts';
import { Button } from '../ui/Button.tsx';
import { messageOf } from '../ui/errors.ts';
import { SelectField } from '../ui/Field.tsx';
import { useInvalidate } from '../invalidate.ts';

export type Overview = RouterOutputs['billing']['overview'];
export type Subscription = NonNullable<Overview['subscription']>;

/** Statuses with an open invoice the owner can pay now. */
const PAYABLE: readonly string[] = ['past_due', 'unpaid', 'suspended', 'incomplete'];
/** Statuses from which a new subscription may be started. */
const ENDED: readonly string[] = ['canceled', 'incomplete_expired'];

/** Every billing change is read back through billing.overview: this refetches it. */
export function useRefreshOverview() {
  const trpc = useTRPC();
  const invalidate = useInvalidate();
  return () => invalidate(trpc.billing);
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
    <ActionButton variant="primary" action={pay}>
      Pay open invoice
    </ActionButton>
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
    <ActionButton variant="danger" action={fail}>
      Fail the next payment (sandbox)
    </ActionButton>
  );
}

/** A button running a mutation that takes no input, with the mutation's error under it. */
function ActionButton({
  variant,
  action,
  children,
}: {
  variant: 'primary' | 'danger';
  action: { isPending: boolean; isError: boolean; error: unknown; mutate: () => void };
  children: ReactNode;
}) {
  return (
    <p>
      <Button variant={variant} busy={action.isPending} onClick={() => action.mutate()}>
        {children}
      </Button>
      {action.isError ? (
        <span className="field-error block" role="alert">
          {messageOf(action.error)}
        </span>
      ) : null}
    </p>
  );
}
