import { useMutation } from '@tanstack/react-query';
import type { FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router';
import { useTRPC } from '../trpc.ts';
import { Button } from '../ui/Button.tsx';
import { appCodeOf, fieldErrorsOf } from '../ui/errors.ts';
import { FormError, formErrorOf } from '../ui/Field.tsx';
import { CenteredPage } from '../ui/layout.tsx';
import { useEnterSession } from './SignInPage.tsx';

/**
 * Where the confirmation mail's link leads. The account is created by a click, not on opening the page: mail
 * scanners that open links would otherwise spend the single-use link before its owner does.
 */
export function ConfirmRegistrationPage() {
  const trpc = useTRPC();
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const enter = useEnterSession();
  const confirm = useMutation(trpc.auth.confirmRegistration.mutationOptions({ onSuccess: enter }));
  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    confirm.mutate({ token });
  };
  const code = appCodeOf(confirm.error);
  const linkProblem =
    code === 'TOKEN_EXPIRED'
      ? 'This link has expired. Register again to get a new one.'
      : code === 'TOKEN_INVALID' || fieldErrorsOf(confirm.error).token
        ? 'This link is not valid (it may have been used already). Register again, or sign in if you already confirmed.'
        : null;
  return (
    <CenteredPage title="Confirm your email">
      <form className="form" onSubmit={onSubmit} noValidate>
        <FormError>{linkProblem ?? formErrorOf(confirm.error, ['token'])}</FormError>
        <p>Your email address is confirmed by this link. Create the account to start using Keel.</p>
        <Button type="submit" variant="primary" busy={confirm.isPending}>
          {confirm.isPending ? 'Creating account…' : 'Create my account'}
        </Button>
      </form>
      <p className="muted">
        <Link to="/register">Register again</Link> · <Link to="/sign-in">Sign in</Link>
      </p>
    </CenteredPage>
  );
}
