import { createHash, randomBytes } from 'node:crypto';
import { AppError } from '../../../shared/errors.ts';
import { abilitiesGainedBy, abilitiesNotHeld, type Ability, type Role } from '../../../shared/permissions.ts';
import { withDbScope, type Em } from '../../platform/db/context.ts';
import { TENANT_FILTER } from '../../platform/db/tenant-filter.ts';
import { recordActivity } from '../activity/activity.service.ts';
import { hashPassword } from '../auth/password.ts';
import { User, type IUser } from '../auth/user.entity.ts';
import { accessKey } from '../access/access-change.ts';
import { announceChange } from '../realtime/access-watcher.ts';
import type { Letter } from '../notifications/mail-requests.ts';
import { appLink, sendMail, type DataServices } from '../notifications/notifications.service.ts';
import { Membership } from '../tenancy/membership.entity.ts';
import { Invitation, type IInvitation } from './invitation.entity.ts';

export const INVITATION_TTL_DAYS = 7;
const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

export function toInvitationOutput(i: IInvitation) {
  return {
    id: i.id,
    email: i.email,
    role: i.role,
    invitedBy: i.invitedBy?.id ?? null,
    expiresAt: i.expiresAt,
    acceptedAt: i.acceptedAt ?? null,
    revokedAt: i.revokedAt ?? null,
    createdAt: i.createdAt,
  };
}

/**
 * Invites an email address to the current organization with a role whose abilities the inviting credential holds
 * itself (a session: its role's; a token: its own, so a `members:manage` token cannot invite an owner). Inviting an
 * address again replaces its open invitation (the old link stops working). The link is minted and emailed by the
 * mail job (`invitationLetter`); until then the row holds the hash of a secret nobody has, so no link works.
 */
export async function createInvitation(
  s: Pick<DataServices, 'queue'>,
  em: Em,
  input: {
    organizationId: string;
    /** `abilities`: the effective abilities of the credential that invites. */
    inviter: { id: string; abilities: readonly Ability[] };
    email: string;
    role: Role;
  },
): Promise<IInvitation> {
  const refused = abilitiesNotHeld(abilitiesGainedBy(input.role, null), input.inviter.abilities);
  if (refused.length) {
    throw new AppError('ABILITY_MISSING', `Inviting as ${input.role} grants abilities you do not hold`, {
      fieldErrors: { role: [`grants abilities you do not hold: ${refused.join(', ')}`] },
    });
  }
  const email = input.email.toLowerCase();
  const existingUser = await em.findOne(User, { email });
  if (existingUser && (await em.count(Membership, { user: existingUser.id }))) {
    throw new AppError('CONFLICT', `${email} is already a member`, {
      fieldErrors: { email: ['is already a member'] },
    });
  }
  const invitation = await em.transactional(async (tx) => {
    await tx.nativeUpdate(
      Invitation,
      { email, acceptedAt: null, revokedAt: null },
      { revokedAt: new Date() },
    );
    const created = tx.create(Invitation, {
      organization: input.organizationId,
      email,
      role: input.role,
      tokenHash: unusableTokenHash(),
      invitedBy: input.inviter.id,
      expiresAt: new Date(Date.now() + INVITATION_TTL_DAYS * 86_400_000),
    });
    recordActivity(tx, {
      organizationId: input.organizationId,
      userId: input.inviter.id,
      action: 'member.invited',
      subjectType: 'invitation',
      subjectId: created.id,
      metadata: { email, role: input.role },
    });
    return created;
  });
  await sendMail(s.queue, { template: 'invitation', invitationId: invitation.id }, input.organizationId);
  return invitation;
}

/** The hash of a random secret that is thrown away: an invitation whose link has not been minted yet. */
const unusableTokenHash = () => hashToken(randomBytes(32).toString('base64url'));

/**
 * The mail job's side of an invitation (run in the invitation's organization): nothing to send once it was
 * accepted, withdrawn or has expired; otherwise a link minted when the message is written. Minting replaces the
 * token's hash, only while the invitation is still open, so a retried or repeated mail leaves exactly one working
 * link — the one in the last message written.
 */
export async function invitationLetter(
  s: Pick<DataServices, 'config'>,
  em: Em,
  invitationId: string,
): Promise<Letter | null> {
  const open = { id: invitationId, acceptedAt: null, revokedAt: null };
  const inv = await em.findOne(
    Invitation,
    { ...open, expiresAt: { $gt: new Date() } },
    { populate: ['organization', 'invitedBy'] },
  );
  if (!inv) return null;
  return {
    to: inv.email,
    async write() {
      const token = randomBytes(32).toString('base64url');
      const minted = await em.nativeUpdate(
        Invitation,
        { ...open, expiresAt: { $gt: new Date() } },
        { tokenHash: hashToken(token) },
      );
      if (minted !== 1) return null;
      return {
        template: 'invitation',
        organizationName: inv.organization.name,
        inviterName: inv.invitedBy?.name ?? 'Someone',
        role: inv.role,
        url: appLink(s.config, `/invitations/accept?token=${token}`),
        expiresAt: inv.expiresAt.toISOString(),
      };
    },
  };
}

export async function listInvitations(em: Em): Promise<IInvitation[]> {
  return em.find(
    Invitation,
    { acceptedAt: null, revokedAt: null, expiresAt: { $gt: new Date() } },
    { orderBy: { createdAt: 'desc' } },
  );
}

export async function revokeInvitation(em: Em, id: string): Promise<void> {
  const inv = await em.findOne(Invitation, { id });
  if (!inv) throw new AppError('NOT_FOUND', 'Invitation not found');
  if (inv.acceptedAt) throw new AppError('CONFLICT', 'This invitation was already accepted');
  inv.revokedAt ??= new Date();
  await em.flush();
}

/**
 * The invitation behind a link. The token identifies the organization (like an API token does), so this is the
 * one lookup of invitations across organizations; whatever is wrong with the link reads as "not valid".
 */
async function openInvitation(rootEm: Em, token: string): Promise<IInvitation> {
  const inv = await withDbScope(rootEm, undefined, (em) =>
    em.findOne(
      Invitation,
      { tokenHash: hashToken(token) },
      { filters: { [TENANT_FILTER]: false }, populate: ['organization'] },
    ),
  );
  if (!inv || inv.revokedAt || inv.acceptedAt) {
    throw new AppError(
      'TOKEN_INVALID',
      'This invitation link is not valid (it may have been used or withdrawn)',
    );
  }
  if (inv.expiresAt.getTime() <= Date.now())
    throw new AppError('TOKEN_EXPIRED', 'This invitation has expired');
  return inv;
}

export async function previewInvitation(rootEm: Em, token: string) {
  const inv = await openInvitation(rootEm, token);
  const hasAccount = await withDbScope(rootEm, undefined, (em) => em.count(User, { email: inv.email }));
  return {
    organizationName: inv.organization.name,
    email: inv.email,
    role: inv.role,
    expiresAt: inv.expiresAt,
    hasAccount: hasAccount > 0,
  };
}

/**
 * The signed-in user accepts: they must be the invited address. Marking the invitation accepted is conditional on
 * it still being open, in the same transaction as the membership, so a link works once.
 */
export async function acceptInvitation(rootEm: Em, user: Pick<IUser, 'id' | 'email'>, token: string) {
  const inv = await openInvitation(rootEm, token);
  if (inv.email !== user.email.toLowerCase()) {
    throw new AppError('NOT_A_MEMBER', 'This invitation was sent to another email address');
  }
  const organizationId = inv.organization.id;
  await withDbScope(rootEm, organizationId, (em) =>
    em.transactional(async (tx) => {
      const claimed = await tx.nativeUpdate(
        Invitation,
        { id: inv.id, acceptedAt: null, revokedAt: null },
        { acceptedAt: new Date(), acceptedBy: user.id },
      );
      if (claimed !== 1) throw new AppError('TOKEN_INVALID', 'This invitation link is not valid');
      if (!(await tx.count(Membership, { user: user.id }))) {
        tx.create(Membership, { organization: organizationId, user: user.id, role: inv.role });
      }
      recordActivity(tx, {
        organizationId,
        userId: user.id,
        action: 'member.joined',
        metadata: { role: inv.role },
      });
    }),
  );
  await withDbScope(rootEm, undefined, async (em) => {
    await em.nativeUpdate(User, { id: user.id }, { currentOrganization: organizationId });
    // Cached principals carry the current organization.
    await announceChange(em, [accessKey.user(user.id)]);
  });
  return { organizationId, role: inv.role };
}

/** Someone without an account accepts: the account is created with the invited address, then joins. */
export async function acceptAsNewUser(rootEm: Em, input: { token: string; name: string; password: string }) {
  const inv = await openInvitation(rootEm, input.token);
  const passwordHash = await hashPassword(input.password);
  const user = await withDbScope(rootEm, undefined, async (em) => {
    if (await em.count(User, { email: inv.email })) {
      throw new AppError(
        'EMAIL_TAKEN',
        'An account with this email exists: sign in, then accept the invitation',
      );
    }
    const u = em.create(User, { email: inv.email, name: input.name, passwordHash });
    await em.flush();
    return u;
  });
  const accepted = await acceptInvitation(rootEm, user, input.token);
  return { user, ...accepted };
}
