import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link, useLocation, useNavigate, useSearchParams } from 'react-router';
import { resetSession, useTRPC, type Me } from '../trpc.ts';
import { Button } from '../ui/Button.tsx';
import { fieldErrorsOf } from '../ui/errors.ts';
import { Field, FormError, formErrorOf } from '../ui/Field.tsx';
import { CenteredPage } from '../ui/layout.tsx';
import { safeNext } from './next.ts';
import { homeFor } from './session.tsx';

/** After any sign-in: drop the previous user's cache and socket, remember who is signed in, go on. */
export function useEnterSession() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const next = safeNext(params.get('next'), window.location.origin);
  return async (me: Me) => {
    await resetSession(queryClient);
    queryClient.setQueryData(trpc.auth.me.queryKey(), me);
    await navigate(next ?? homeFor(me), { replace: true });
  };
}

export function SignInPage() {
  const trpc = useTRPC();
  const location = useLocation();
  const [params] = useSearchParams();
  const enter = useEnterSession();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const signIn = useMutation(trpc.auth.signIn.mutationOptions({ onSuccess: enter }));

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    signIn.mutate({ email, password });
  };
  const fieldErrors = fieldErrorsOf(signIn.error);
  const formError = formErrorOf(signIn.error, ['email', 'password']);
  const signedOut = (location.state as { signedOut?: boolean } | null)?.signedOut === true;
  const registerHref = params.get('next')
    ? `/register?next=${encodeURIComponent(params.get('next')!)}`
    : '/register';

  return (
    <CenteredPage title="Sign in">
      {signedOut && !signIn.isError ? (
        <p className="notice" role="status">
          You have signed out.
        </p>
      ) : null}
      <form onSubmit={onSubmit} noValidate className="form">
        <FormError>{formError}</FormError>
        <Field
          label="Email"
          name="email"
          type="email"
          autoComplete="username"
          required
          autoFocus
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          errors={fieldErrors.email}
        />
        <Field
          label="Password"
          name="password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          errors={fieldErrors.password}
        />
        <Button type="submit" variant="primary" busy={signIn.isPending}>
          {signIn.isPending ? 'Signing in…' : 'Sign in'}
        </Button>
      </form>
      <p className="muted">
        <Link to="/forgot-password">Forgot your password?</Link>
      </p>
      <p className="muted">
        New to Keel? <Link to={registerHref}>Create an account</Link>
      </p>
    </CenteredPage>
  );
}
