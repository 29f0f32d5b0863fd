import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { resetSession, useTRPC } from '../trpc.ts';
import { Button } from '../ui/Button.tsx';
import { fieldErrorsOf, isSignedOut, messageOf } from '../ui/errors.ts';
import { Field, FormError, formErrorOf } from '../ui/Field.tsx';
import { formatDate } from '../ui/format.ts';
import { CenteredPage } from '../ui/layout.tsx';
import { ErrorState, Loading } from '../ui/states.tsx';

export function AcceptInvitationPage() {
  const trpc = useTRPC();
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const preview = useQuery(trpc.invitations.preview.queryOptions({ token }, { retry: false }));
  const me = useQuery(trpc.auth.me.queryOptions(undefined, { retry: false }));

  if (preview.isPending || me.isPending) return <Loading label="Loading invitation…" />;
  if (preview.isError) {
    return (
      <CenteredPage title="Invitation">
        <ErrorState error={preview.error} title="This invitation cannot be used" />
        <p>
          <Link to="/sign-in">Go to sign in</Link>
        </p>
      </CenteredPage>
    );
  }
  const inv = preview.data;
  const signedIn = me.isSuccess;
  const here = `/invitations/accept?token=${encodeURIComponent(token)}`;
  return (
    <CenteredPage title={`Join ${inv.organizationName}`}>
      <p>
        {inv.email} is invited as <strong>{inv.role}</strong>. The invitation is valid until{' '}
        {formatDate(inv.expiresAt)}.
      </p>
      {signedIn ? (
        me.data.user.email.toLowerCase() === inv.email.toLowerCase() ? (
          <AcceptAsMe token={token} />
        ) : (
          <p className="form-error" role="alert">
            You are signed in as {me.data.user.email}. Sign out and sign in as {inv.email} to accept.
          </p>
        )
      ) : inv.hasAccount ? (
        <p>
          <Link to={`/sign-in?next=${encodeURIComponent(here)}`}>Sign in as {inv.email} to accept</Link>
        </p>
      ) : (
        <AcceptAsNewUser token={token} />
      )}
      {me.isError && !isSignedOut(me.error) ? <p className="muted">{messageOf(me.error)}</p> : null}
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
