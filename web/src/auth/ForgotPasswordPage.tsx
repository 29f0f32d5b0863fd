import { useMutation } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { useTRPC } from '../trpc.ts';
import { Button } from '../ui/Button.tsx';
import { fieldErrorsOf } from '../ui/errors.ts';
import { Field, FormError, formErrorOf } from '../ui/Field.tsx';
import { CenteredPage } from '../ui/layout.tsx';

export function ForgotPasswordPage() {
  const trpc = useTRPC();
  const [email, setEmail] = useState('');
  const request = useMutation(trpc.passwordReset.request.mutationOptions());
  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    request.mutate({ email });
  };
  return (
    <CenteredPage title="Reset your password">
      {request.isSuccess ? (
        // The same answer whether or not the address has an account, so the page reveals nothing.
        <p className="notice" role="status">
          If {email} has an account, a link to choose a new password is on its way. It is valid for a short
          time.
        </p>
      ) : (
        <form className="form" onSubmit={onSubmit} noValidate>
          <FormError>{formErrorOf(request.error, ['email'])}</FormError>
          <Field
            label="Email"
            name="email"
            type="email"
            autoComplete="username"
            required
            autoFocus
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            errors={fieldErrorsOf(request.error).email}
          />
          <Button type="submit" variant="primary" busy={request.isPending}>
            Send reset link
          </Button>
        </form>
      )}
      <p className="muted">
        <Link to="/sign-in">Back to sign in</Link>
      </p>
    </CenteredPage>
  );
}
