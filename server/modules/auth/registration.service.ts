import { randomBytes } from 'node:crypto';
import { AppError } from '../../../shared/errors.ts';
import { withDbScope, type Em } from '../../platform/db/context.ts';
import type { Letter } from '../notifications/mail-requests.ts';
import { appLink, sendMail, type DataServices } from '../notifications/notifications.service.ts';
import { createAccount, hashTokenSecret, type NewAccount } from './auth.service.ts';
import { hashPassword } from './password.ts';
import { PendingRegistration } from './pending-registration.entity.ts';
import { User } from './user.entity.ts';

// Registration by confirmation mail (issue 17, finding 11): `auth.register` answers the same for every address and
// creates no user; the mail job writes either a confirmation link or "you already have an account"; the link
// creates the account and signs in.

export const REGISTRATION_TTL_HOURS = 24;
const TTL_MS = REGISTRATION_TTL_HOURS * 3_600_000;

export interface RegisterInput {
  email: string;
  password: string;
  name: string;
  organizationName: string;
}

/**
 * Keeps the registration pending and queues its mail. The same work whatever the address — hash the password,
 * delete expired pending registrations, insert one, queue one mail job carrying its id — and it never reads the
 * users table: the job finds out whether the address has an account (`registrationLetter`), so neither the answer
 * nor its timing tells. The password is hashed here (the job never sees it) so that a confirmed link needs no form.
 */
export async function requestRegistration(
  s: Pick<DataServices, 'queue'>,
  rootEm: Em,
  input: RegisterInput,
): Promise<void> {
  const passwordHash = await hashPassword(input.password);
  const registrationId = await withDbScope(rootEm, undefined, async (em) => {
    await em.nativeDelete(PendingRegistration, { expiresAt: { $lte: new Date() } });
    const pending = em.create(PendingRegistration, {
      email: input.email,
      name: input.name,
      organizationName: input.organizationName,
      passwordHash,
      tokenHash: null,
      expiresAt: new Date(Date.now() + TTL_MS),
    });
    await em.flush();
    return pending.id;
  });
  await sendMail(s.queue, { template: 'registration', registrationId }, null);
}

/**
 * The mail job's side of a registration: nothing once it expired or was confirmed (its row is gone). For an address
 * that already has an account, a message saying so with sign-in and reset links, and the pending registration is
 * never given a link (it expires). Otherwise a confirmation link minted when the message is written: minting
 * replaces the token's hash and restarts the expiry, so a retried job leaves one working link per registration —
 * the one in the last message written.
 */
export async function registrationLetter(
  s: Pick<DataServices, 'config'>,
  em: Em,
  registrationId: string,
): Promise<Letter | null> {
  const live = () => ({ id: registrationId, expiresAt: { $gt: new Date() } });
  const pending = await em.findOne(PendingRegistration, live());
  if (!pending) return null;
  const account = await em.findOne(User, { email: pending.email });
  if (account) {
    return {
      to: account.email,
      write: () =>
        Promise.resolve({
          template: 'account-exists',
          name: account.name,
          signInUrl: appLink(s.config, '/sign-in'),
          resetUrl: appLink(s.config, '/forgot-password'),
        }),
    };
  }
  return {
    to: pending.email,
    async write() {
      const token = randomBytes(32).toString('base64url');
      const minted = await em.nativeUpdate(PendingRegistration, live(), {
        tokenHash: hashTokenSecret(token),
        expiresAt: new Date(Date.now() + TTL_MS),
      });
      if (minted !== 1) return null;
      return {
        template: 'confirm-registration',
        name: pending.name,
        organizationName: pending.organizationName,
        url: appLink(s.config, `/register/confirm?token=${token}`),
        expiresInHours: REGISTRATION_TTL_HOURS,
      };
    },
  };
}

const invalidLink = () =>
  new AppError('TOKEN_INVALID', 'This confirmation link is not valid (it may have been used already)');

/**
 * Creates the account a confirmation link stands for. Claiming the link (deleting its pending registration, and
 * every other one of the same address) is in the account's transaction and conditional on the link still being
 * live, so a link works once, two concurrent uses create one account, and a failure spends nothing. An address
 * that got an account meanwhile (an accepted invitation) is EMAIL_TAKEN: only the mailbox's owner holds the link.
 */
export async function confirmRegistration(rootEm: Em, token: string): Promise<NewAccount> {
  const tokenHash = hashTokenSecret(token);
  const pending = await withDbScope(rootEm, undefined, (em) =>
    em.findOne(PendingRegistration, { tokenHash }, { populate: ['passwordHash'] }),
  );
  if (!pending) throw invalidLink();
  if (pending.expiresAt.getTime() <= Date.now()) {
    throw new AppError('TOKEN_EXPIRED', 'This confirmation link has expired; register again');
  }
  return createAccount(
    rootEm,
    {
      email: pending.email,
      passwordHash: pending.passwordHash,
      name: pending.name,
      organizationName: pending.organizationName,
    },
    async (tx) => {
      const claimed = await tx.nativeDelete(PendingRegistration, {
        id: pending.id,
        tokenHash,
        expiresAt: { $gt: new Date() },
      });
      if (claimed !== 1) throw invalidLink();
      await tx.nativeDelete(PendingRegistration, { email: pending.email });
    },
  );
}
