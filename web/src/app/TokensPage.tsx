import { useMutation, useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { ABILITIES, type Ability } from '../../../shared/permissions.ts';
import { useMe } from '../auth/session.tsx';
import { useTRPC } from '../trpc.ts';
import { Button } from '../ui/Button.tsx';
import { ConfirmDialog } from '../ui/ConfirmDialog.tsx';
import { fieldErrorsOf, messageOf } from '../ui/errors.ts';
import { Field, FormError, formErrorOf } from '../ui/Field.tsx';
import { formatDate, formatDateTime } from '../ui/format.ts';
import { Section } from '../ui/layout.tsx';
import { QueryView } from '../ui/QueryView.tsx';
import { useInvalidate } from '../invalidate.ts';

export function TokensPage() {
  const me = useMe();
  const canManage = me.abilities.includes('tokens:manage');
  return (
    <div className="page">
      <header className="page-head">
        <h1>API tokens</h1>
        <p className="muted">
          Tokens let scripts call the API as you, limited to the abilities you grant (and never beyond your
          role).
        </p>
      </header>
      <div className="columns">
        <TokenList canManage={canManage} />
        {canManage ? <CreateToken /> : null}
      </div>
    </div>
  );
}

function useInvalidateTokens() {
  const trpc = useTRPC();
  const invalidate = useInvalidate();
  return () => invalidate(trpc.tokens);
}

function CreateToken() {
  const trpc = useTRPC();
  const me = useMe();
  const invalidate = useInvalidateTokens();
  const [name, setName] = useState('');
  const [abilities, setAbilities] = useState<Ability[]>(['read']);
  const [days, setDays] = useState('');
  const [copied, setCopied] = useState(false);
  const create = useMutation(trpc.tokens.create.mutationOptions({ onSuccess: () => void invalidate() }));
  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    setCopied(false);
    create.mutate({ name, abilities, expiresInDays: days ? Number(days) : null });
  };
  const errors = fieldErrorsOf(create.error);
  const toggle = (a: Ability, on: boolean) =>
    setAbilities((list) => (on ? [...list, a] : list.filter((x) => x !== a)));

  return (
    <Section title="Create a token">
      {create.data ? (
        <div className="notice" role="status">
          <p>
            <strong>Copy the secret of “{create.data.token.name}” now:</strong> it is shown only once.
          </p>
          <p className="secret" aria-label="Token secret">
            {create.data.secret}
          </p>
          <Button
            onClick={() =>
              void navigator.clipboard.writeText(create.data.secret).then(
                () => setCopied(true),
                () => setCopied(false),
              )
            }
          >
            {copied ? 'Copied' : 'Copy secret'}
          </Button>{' '}
          <Button variant="link" onClick={() => create.reset()}>
            Done
          </Button>
        </div>
      ) : null}
      <form className="form" onSubmit={onSubmit} noValidate>
        <FormError>{formErrorOf(create.error, ['name', 'abilities', 'expiresInDays'])}</FormError>
        <Field
          label="Name"
          name="name"
          required
          value={name}
          onChange={(e) => setName(e.target.value)}
          errors={errors.name}
          hint="What the token is for, e.g. “nightly sync”."
        />
        <fieldset className="field">
          <legend>Abilities</legend>
          <div className="checkbox-group">
            {ABILITIES.map((a) => (
              <label key={a} className="checkbox">
                <input
                  type="checkbox"
                  name="abilities"
                  value={a}
                  checked={abilities.includes(a)}
                  disabled={!me.abilities.includes(a)}
                  onChange={(e) => toggle(a, e.target.checked)}
                />
                {a}
              </label>
            ))}
          </div>
          {errors.abilities ? <p className="field-error">Abilities {errors.abilities.join('; ')}</p> : null}
        </fieldset>
        <Field
          label="Expires after (days)"
          name="expiresInDays"
          type="number"
          min={1}
          max={3650}
          value={days}
          onChange={(e) => setDays(e.target.value)}
          errors={errors.expiresInDays}
          hint="Leave empty for a token that does not expire."
        />
        <Button type="submit" variant="primary" busy={create.isPending}>
          Create token
        </Button>
      </form>
    </Section>
  );
}

function TokenList({ canManage }: { canManage: boolean }) {
  const trpc = useTRPC();
  const invalidate = useInvalidateTokens();
  const tokens = useQuery(trpc.tokens.list.queryOptions());
  const [revoking, setRevoking] = useState<{ id: string; name: string } | null>(null);
  const [revokingAll, setRevokingAll] = useState(false);
  const revoke = useMutation(
    trpc.tokens.revoke.mutationOptions({
      onSuccess: async () => {
        await invalidate();
        setRevoking(null);
      },
    }),
  );
  const revokeAll = useMutation(
    trpc.tokens.revokeAll.mutationOptions({
      onSuccess: async () => {
        await invalidate();
        setRevokingAll(false);
      },
    }),
  );
  const active = tokens.data?.filter((t) => !t.revokedAt) ?? [];

  return (
    <Section
      title="Your tokens"
      aside={
        canManage && active.length ? (
          <Button variant="danger" onClick={() => setRevokingAll(true)}>
            Revoke all
          </Button>
        ) : null
      }
    >
      <QueryView
        query={tokens}
        loading="Loading tokens…"
        empty={{ when: (d) => d.length === 0, title: 'No tokens yet' }}
      >
        {(data) => (
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Abilities</th>
                <th scope="col">Last used</th>
                <th scope="col">Expires</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {data.map((t) => (
                <tr key={t.id}>
                  <td>
                    {t.name}
                    <span className="muted block">created {formatDate(t.createdAt)}</span>
                  </td>
                  <td>{t.abilities.join(', ')}</td>
                  <td>{t.lastUsedAt ? formatDateTime(t.lastUsedAt) : 'Never'}</td>
                  <td>{t.expiresAt ? formatDate(t.expiresAt) : 'Never'}</td>
                  <td>
                    {t.revokedAt ? (
                      <span className="badge">Revoked</span>
                    ) : canManage ? (
                      <Button
                        variant="danger"
                        aria-label={`Revoke ${t.name}`}
                        onClick={() => setRevoking({ id: t.id, name: t.name })}
                      >
                        Revoke
                      </Button>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </QueryView>
      <ConfirmDialog
        open={revoking !== null}
        title={`Revoke “${revoking?.name ?? ''}”?`}
        confirmLabel="Revoke token"
        danger
        busy={revoke.isPending}
        error={revoke.isError ? messageOf(revoke.error) : null}
        onConfirm={() => revoking && revoke.mutate({ id: revoking.id })}
        onCancel={() => {
          setRevoking(null);
          revoke.reset();
        }}
      >
        <p>Programs using it will be refused from now on.</p>
      </ConfirmDialog>
      <ConfirmDialog
        open={revokingAll}
        title="Revoke all your tokens?"
        confirmLabel="Revoke all"
        danger
        busy={revokeAll.isPending}
        error={revokeAll.isError ? messageOf(revokeAll.error) : null}
        onConfirm={() => revokeAll.mutate()}
        onCancel={() => {
          setRevokingAll(false);
          revokeAll.reset();
        }}
      >
        <p>Every program using one of your {active.length} active tokens will be refused from now on.</p>
      </ConfirmDialog>
    </Section>
  );
}
