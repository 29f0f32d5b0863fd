import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { resetSession, useTRPC, type Me, type RouterOutputs } from '../trpc.ts';
import { Button } from '../ui/Button.tsx';
import { appCodeOf, fieldErrorsOf, isSignedOut, messageOf } from '../ui/errors.ts';
import { Field, FormError, formErrorOf } from '../ui/Field.tsx';
import { formatDate } from '../ui/format.ts';
import { CenteredPage } from '../ui/layout.tsx';
import { QueryView } from '../ui/QueryView.tsx';
import { EmptyState } from '../ui/states.tsx';

type Preview = RouterOutputs['invitations']['preview'];

export function AcceptInvitationPage() {
  const trpc = useTRPC();
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const preview = useQuery(trpc.invitations.preview.queryOptions({ token }, { retry: false }));
  const me = useQuery(trpc.auth.me.queryOptions(undefined, { retry: false }));

  return (
    <QueryView
      query={preview}
      loading="Loading invitation…"
      known={(error) =>
        appCodeOf(error) ? (
          <CenteredPage title="Invitation">
            <EmptyState title="This invitation cannot be used">
              <p>{messageOf(error)}</p>
              <p>
                <Link to="/sign-in">Go to sign in</Link>
              </p>
            </EmptyState>
          </CenteredPage>
        ) : undefined
      }
    >
      {(inv) => (
        // Being signed out is the usual case here: that answer of `auth.me` means "accept as a new or other user".
        <QueryView
          query={me}
          loading="Loading invitation…"
          known={(error) =>
            isSignedOut(error) ? <Invitation inv={inv} token={token} me={null} /> : undefined
          }
        >
          {(signedIn) => <Invitation inv={inv} token={token} me={signedIn} />}
        </QueryView>
      )}
    </QueryView>
  );
}

function Invitation({ inv, token, me }: { inv: Preview; token: string; me: Me | null }) {
  const here = `/invitations/accept?token=${encodeURIComponent(token)}`;
  return (
    <CenteredPage title={`Join ${inv.organizationName}`}>
      <p>
        {inv.email} is invited as <strong>{inv.role}</strong>. The invitation is valid until{' '}
        {formatDate(inv.expiresAt)}.
      </p>
      {me ? (
        me.user.email.toLowerCase() === inv.email.toLowerCase() ? (
          <AcceptAsMe token={token} />
        ) : (
          <p className="form-error" role="alert">
            You are signed in as {me.user.email}. Sign out and sign in as {inv.email} to accept.
          </p>
        )
      ) : inv.hasAccount ? (
        <p>
          <Link to={`/sign-in?next=${encodeURIComponent(here)}`}>Sign in as {inv.email} to accept</Link>
        </p>
      ) : (
        <AcceptAsNewUser token={token} />
      )}
    </CenteredPage>
  );
}

function useJoined() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const switchOrganization = useMutation(trpc.auth.switchOrganization.mutationOptions());
  return async ({ organizationId }: { organizationId: string }) => {
    await switchOrganization.mutateAsync({ organizationId }).catch(() => undefined);
    await resetSession(queryClient);
    await navigate('/app', { replace: true });
  };
}

function AcceptAsMe({ token }: { token: string }) {
  const trpc = useTRPC();
  const joined = useJoined();
  const accept = useMutation(trpc.invitations.accept.mutationOptions({ onSuccess: joined }));
  return (
    <>
      <FormError>{accept.isError ? messageOf(accept.error) : null}</FormError>
      <Button variant="primary" busy={accept.isPending} onClick={() => accept.mutate({ token })}>
        Accept invitation
      </Button>
    </>
  );
}

function AcceptAsNewUser({ token }: { token: string }) {
  const trpc = useTRPC();
  const joined = useJoined();
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const accept = useMutation(trpc.invitations.acceptAsNewUser.mutationOptions({ onSuccess: joined }));
  const errors = fieldErrorsOf(accept.error);
  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    accept.mutate({ token, name, password });
  };
  return (
    <form className="form" onSubmit={onSubmit} noValidate>
      <FormError>{formErrorOf(accept.error, ['name', 'password'])}</FormError>
      <Field
        label="Your name"
        name="name"
        autoComplete="name"
        required
        autoFocus
        value={name}
        onChange={(e) => setName(e.target.value)}
        errors={errors.name}
      />
      <Field
        label="Password"
        name="password"
        type="password"
        autoComplete="new-password"
        required
        value={password}
        onChange={(e) => setPassword(e.target.value)}
        errors={errors.password}
        hint="At least 10 characters."
      />
      <Button type="submit" variant="primary" busy={accept.isPending}>
        Create account and join
      </Button>
    </form>
  );
}
