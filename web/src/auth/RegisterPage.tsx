import { useMutation } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { useTRPC } from '../trpc.ts';
import { Button } from '../ui/Button.tsx';
import { fieldErrorsOf } from '../ui/errors.ts';
import { Field, FormError, formErrorOf } from '../ui/Field.tsx';
import { CenteredPage } from '../ui/layout.tsx';

const FIELDS = ['name', 'email', 'password', 'organizationName'] as const;

export function RegisterPage() {
  const trpc = useTRPC();
  const [form, setForm] = useState({ name: '', email: '', password: '', organizationName: '' });
  const register = useMutation(trpc.auth.register.mutationOptions());
  const set = (key: (typeof FIELDS)[number]) => (e: { target: { value: string } }) =>
    setForm((f) => ({ ...f, [key]: e.target.value }));

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    register.mutate(form);
  };
  const fieldErrors = fieldErrorsOf(register.error);
  const formError = formErrorOf(register.error, FIELDS);

  return (
    <CenteredPage title="Create your account">
      {register.isSuccess ? (
        // The same answer whether or not the address has an account: the mail to it says which.
        <p className="notice" role="status">
          Check your email. We sent a message to {register.variables.email}: open the link in it to confirm
          your address and create your account. It works for 24 hours.
        </p>
      ) : (
        <form onSubmit={onSubmit} noValidate className="form">
          <FormError>{formError}</FormError>
          <Field
            label="Your name"
            name="name"
            autoComplete="name"
            required
            autoFocus
            value={form.name}
            onChange={set('name')}
            errors={fieldErrors.name}
          />
          <Field
            label="Email"
            name="email"
            type="email"
            autoComplete="email"
            required
            value={form.email}
            onChange={set('email')}
            errors={fieldErrors.email}
          />
          <Field
            label="Password"
            name="password"
            type="password"
            autoComplete="new-password"
            required
            value={form.password}
            onChange={set('password')}
            errors={fieldErrors.password}
            hint="At least 10 characters."
          />
          <Field
            label="Organization name"
            name="organizationName"
            autoComplete="organization"
            required
            value={form.organizationName}
            onChange={set('organizationName')}
            errors={fieldErrors.organizationName}
          />
          <Button type="submit" variant="primary" busy={register.isPending}>
            {register.isPending ? 'Creating account…' : 'Create account'}
          </Button>
        </form>
      )}
      <p className="muted">
        Already have an account? <Link to="/sign-in">Sign in</Link>
      </p>
    </CenteredPage>
  );
}
