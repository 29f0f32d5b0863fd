import { useMutation, useQuery } from '@tanstack/react-query';
import { useId, useState, type FormEvent } from 'react';
import { useNavigate } from 'react-router';
import { ROLES, type Role } from '../../../shared/permissions.ts';
import { useMe } from '../auth/session.tsx';
import { useTRPC, type RouterOutputs } from '../trpc.ts';
import { Button } from '../ui/Button.tsx';
import { ConfirmDialog } from '../ui/ConfirmDialog.tsx';
import { fieldErrorsOf, messageOf } from '../ui/errors.ts';
import { Field, FormError, formErrorOf, SelectField } from '../ui/Field.tsx';
import { formatDate } from '../ui/format.ts';
import { Section } from '../ui/layout.tsx';
import { QueryView } from '../ui/QueryView.tsx';
import { useInvalidate, useOrganizationChanged } from '../invalidate.ts';

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

type Member = RouterOutputs['organization']['members'][number];

function MemberList() {
  const trpc = useTRPC();
  const me = useMe();
  const canManage = me.abilities.includes('members:manage');
  const members = useQuery(trpc.organization.members.queryOptions());
  return (
    <Section title="Members">
      <QueryView
        query={members}
        loading="Loading members…"
        empty={{ when: (d) => d.length === 0, title: 'No members yet' }}
      >
        {(data) => (
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">Joined</th>
                {canManage ? (
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                ) : null}
              </tr>
            </thead>
            <tbody>
              {data.map((m) => (
                <MemberRow key={m.userId} member={m} canManage={canManage} />
              ))}
            </tbody>
          </table>
        )}
      </QueryView>
      <Leave />
    </Section>
  );
}

/**
 * Refreshes what a membership change can alter: the list, and auth.me when the change was the caller's own (their
 * abilities, or their organizations).
 */
function useAfterMembershipChange() {
  const trpc = useTRPC();
  const me = useMe();
  const invalidate = useInvalidate();
  return async (userId: string) => {
    await invalidate(trpc.organization);
    if (userId === me.user.id) await invalidate(trpc.auth.me);
  };
}

function MemberRow({ member, canManage }: { member: Member; canManage: boolean }) {
  const trpc = useTRPC();
  const me = useMe();
  const afterChange = useAfterMembershipChange();
  const [confirming, setConfirming] = useState(false);
  const errorId = useId();
  const changeRole = useMutation(
    trpc.organization.changeRole.mutationOptions({ onSettled: (_d, _e, v) => afterChange(v.userId) }),
  );
  const remove = useMutation(
    trpc.organization.removeMember.mutationOptions({
      onSuccess: async (_d, v) => {
        setConfirming(false);
        await afterChange(v.userId);
      },
    }),
  );
  const actorIsOwner = me.organization?.role === 'owner';
  // The server refuses the rest (an admin touching an owner, or making one); the controls do not offer it.
  const manageable = canManage && (actorIsOwner || member.role !== 'owner');
  const roles = ROLES.filter((r) => r !== 'owner' || actorIsOwner);
  const roleError = changeRole.error
    ? (fieldErrorsOf(changeRole.error).role?.[0] ?? messageOf(changeRole.error))
    : null;
  const isMe = member.userId === me.user.id;
  return (
    <tr>
      <td>
        {member.name}
        {isMe ? ' (you)' : ''}
        <span className="muted block">{member.email}</span>
      </td>
      <td className="capitalize">
        {manageable ? (
          <>
            <SelectField
              label={`Role of ${member.name}`}
              hideLabel
              value={member.role}
              disabled={changeRole.isPending}
              aria-invalid={roleError ? true : undefined}
              aria-describedby={roleError ? errorId : undefined}
              onChange={(e) => changeRole.mutate({ userId: member.userId, role: e.target.value as Role })}
            >
              {roles.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </SelectField>
            {roleError ? (
              <p id={errorId} className="field-error" role="alert">
                {roleError}
              </p>
            ) : null}
          </>
        ) : (
          member.role
        )}
      </td>
      <td>{formatDate(member.joinedAt)}</td>
      {canManage ? (
        <td>
          {manageable && !isMe ? (
            <>
              <Button
                variant="link"
                onClick={() => {
                  remove.reset();
                  setConfirming(true);
                }}
              >
                Remove
              </Button>
              <ConfirmDialog
                open={confirming}
                title={`Remove ${member.name}?`}
                confirmLabel="Remove member"
                danger
                busy={remove.isPending}
                error={remove.error ? messageOf(remove.error) : null}
                onConfirm={() => remove.mutate({ userId: member.userId })}
                onCancel={() => setConfirming(false)}
              >
                <p>
                  {member.name} ({member.email}) loses access to this organization at once, and their API
                  tokens here are revoked.
                </p>
              </ConfirmDialog>
            </>
          ) : null}
        </td>
      ) : null}
    </tr>
  );
}

function Leave() {
  const trpc = useTRPC();
  const me = useMe();
  const organizationChanged = useOrganizationChanged();
  const navigate = useNavigate();
  const [confirming, setConfirming] = useState(false);
  const leave = useMutation(
    trpc.organization.leave.mutationOptions({
      onSuccess: async () => {
        setConfirming(false);
        // Like switching organization: everything cached belonged to the one just left.
        await organizationChanged();
        void navigate('/app');
      },
    }),
  );
  const name = me.organization?.name ?? 'this organization';
  return (
    <div style={{ marginTop: '1rem' }}>
      <Button
        variant="danger"
        onClick={() => {
          leave.reset();
          setConfirming(true);
        }}
      >
        Leave organization
      </Button>
      <ConfirmDialog
        open={confirming}
        title={`Leave ${name}?`}
        confirmLabel="Leave"
        danger
        busy={leave.isPending}
        error={leave.error ? messageOf(leave.error) : null}
        onConfirm={() => leave.mutate()}
        onCancel={() => setConfirming(false)}
      >
        <p>You lose access to {name} and your API tokens here are revoked. An owner can invite you back.</p>
      </ConfirmDialog>
    </div>
  );
}

function Invite() {
  const trpc = useTRPC();
  const me = useMe();
  const invalidate = useInvalidate();
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('member');
  const invite = useMutation(
    trpc.invitations.create.mutationOptions({
      onSuccess: () => {
        setEmail('');
        void invalidate(trpc.invitations);
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

type Invitation = RouterOutputs['invitations']['list'][number];
const pendingOf = (all: Invitation[]) => all.filter((i) => !i.acceptedAt && !i.revokedAt);

function Invitations() {
  const trpc = useTRPC();
  const invalidate = useInvalidate();
  const list = useQuery(trpc.invitations.list.queryOptions());
  const revoke = useMutation(
    trpc.invitations.revoke.mutationOptions({
      onSuccess: () => void invalidate(trpc.invitations),
    }),
  );
  return (
    <Section title="Pending invitations">
      <QueryView
        query={list}
        loading="Loading invitations…"
        empty={{ when: (d) => pendingOf(d).length === 0, title: 'No pending invitations' }}
      >
        {(data) => (
          <ul className="plain-list">
            {pendingOf(data).map((i) => (
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
      </QueryView>
      {revoke.isError ? (
        <p className="field-error" role="alert">
          {messageOf(revoke.error)}
        </p>
      ) : null}
    </Section>
  );
}
