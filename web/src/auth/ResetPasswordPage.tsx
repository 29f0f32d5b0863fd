import { useMutation } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router';
import { useTRPC } from '../trpc.ts';
import { Button } from '../ui/Button.tsx';
import { fieldErrorsOf } from '../ui/errors.ts';
import { Field, FormError, formErrorOf } from '../ui/Field.tsx';
import { CenteredPage } from '../ui/layout.tsx';

export function ResetPasswordPage() {
  const trpc = useTRPC();
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const [password, setPassword] = useState('');
  const complete = useMutation(trpc.passwordReset.complete.mutationOptions());
  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    complete.mutate({ token, password });
  };
  const errors = fieldErrorsOf(complete.error);
  return (
    <CenteredPage title="Choose a new password">
      {complete.isSuccess ? (
        <p className="notice" role="status">
          Your password has been changed and every session signed out. <Link to="/sign-in">Sign in</Link> with
          the new one.
        </p>
      ) : (
        <form className="form" onSubmit={onSubmit} noValidate>
          <FormError>
            {errors.token
              ? 'This reset link is not valid. Request a new one.'
              : formErrorOf(complete.error, ['password', 'token'])}
          </FormError>
          <Field
            label="New password"
            name="password"
            type="password"
            autoComplete="new-password"
            required
            autoFocus
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            errors={errors.password}
            hint="At least 10 characters."
          />
          <Button type="submit" variant="primary" busy={complete.isPending}>
            Change password
          </Button>
        </form>
      )}
      <p className="muted">
        <Link to="/forgot-password">Request a new link</Link>
      </p>
    </CenteredPage>
  );
}
