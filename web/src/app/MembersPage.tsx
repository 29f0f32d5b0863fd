import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { ROLES, type Role } from '../../../shared/permissions.ts';
import { useMe } from '../auth/session.tsx';
import { useTRPC } from '../trpc.ts';
import { Button } from '../ui/Button.tsx';
import { fieldErrorsOf, messageOf } from '../ui/errors.ts';
import { Field, FormError, formErrorOf, SelectField } from '../ui/Field.tsx';
import { formatDate } from '../ui/format.ts';
import { Section } from '../ui/layout.tsx';
import { EmptyState, ErrorState, Loading } from '../ui/states.tsx';

export function MembersPage() {
  const me = useMe();
  const canManage = me.abilities.includes('members:manage');
  return (
    <div className="page">
      <header className="page-head">
        <h1>Members</h1>
      </header>
      <div className="columns">
        <MemberList />
        {canManage ? (
          <div>
            <Invite />
            <Invitations />
          </div>
        ) : (
          <p className="muted">Only owners and admins can invite people.</p>
        )}
      </div>
    </div>
  );
}

function MemberList() {
  const trpc = useTRPC();
  const members = useQuery(trpc.organization.members.queryOptions());
  return (
    <Section title="Members">
      {members.isPending ? (
        <Loading label="Loading members…" />
      ) : members.isError ? (
        <ErrorState error={members.error} onRetry={() => void members.refetch()} />
      ) : members.data.length === 0 ? (
        <EmptyState title="No members yet" />
      ) : (
        <table className="table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Role</th>
              <th scope="col">Joined</th>
            </tr>
          </thead>
          <tbody>
            {members.data.map((m) => (
              <tr key={m.userId}>
                <td>
                  {m.name}
                  <span className="muted block">{m.email}</span>
                </td>
                <td className="capitalize">{m.role}</td>
                <td>{formatDate(m.joinedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

function Invite() {
  const trpc = useTRPC();
  const me = useMe();
  const queryClient = useQueryClient();
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('member');
  const invite = useMutation(
    trpc.invitations.create.mutationOptions({
      onSuccess: () => {
        setEmail('');
        void queryClient.invalidateQueries({ queryKey: trpc.invitations.list.queryKey() });
      },
    }),
  );
  const errors = fieldErrorsOf(invite.error);
  // Only an owner can make another owner.
  const roles = ROLES.filter((r) => r !== 'owner' || me.organization?.role === 'owner');
  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    invite.mutate({ email, role });
  };
  return (
    <Section title="Invite someone">
      <form className="form" onSubmit={onSubmit} noValidate>
        <FormError>{formErrorOf(invite.error, ['email', 'role'])}</FormError>
        <Field
          label="Email"
          name="email"
          type="email"
          required
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          errors={errors.email}
        />
        <SelectField label="Role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
          {roles.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </SelectField>
        <Button type="submit" variant="primary" busy={invite.isPending}>
          Send invitation
        </Button>
        {invite.isSuccess ? (
          <p className="notice" role="status">
            Invitation sent to {invite.data.email}.
          </p>
        ) : null}
      </form>
    </Section>
  );
}

function Invitations() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const list = useQuery(trpc.invitations.list.queryOptions());
  const revoke = useMutation(
    trpc.invitations.revoke.mutationOptions({
      onSuccess: () => void queryClient.invalidateQueries({ queryKey: trpc.invitations.list.queryKey() }),
    }),
  );
  const pending = list.data?.filter((i) => !i.acceptedAt && !i.revokedAt) ?? [];
  return (
    <Section title="Pending invitations">
      {list.isPending ? (
        <Loading label="Loading invitations…" />
      ) : list.isError ? (
        <ErrorState error={list.error} onRetry={() => void list.refetch()} />
      ) : pending.length === 0 ? (
        <EmptyState title="No pending invitations" />
      ) : (
        <ul className="plain-list">
          {pending.map((i) => (
            <li key={i.id}>
              {i.email} <span className="capitalize muted">({i.role})</span>, expires{' '}
              {formatDate(i.expiresAt)}{' '}
              <Button
                variant="link"
                busy={revoke.isPending && revoke.variables.id === i.id}
                onClick={() => revoke.mutate({ id: i.id })}
              >
                Revoke
              </Button>
            </li>
          ))}
        </ul>
      )}
      {revoke.isError ? (
        <p className="field-error" role="alert">
          {messageOf(revoke.error)}
        </p>
      ) : null}
    </Section>
  );
}
