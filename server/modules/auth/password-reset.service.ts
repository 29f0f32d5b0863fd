import { createHash, randomBytes } from 'node:crypto';
import { LockMode } from '@mikro-orm/core';
import { AppError } from '../../../shared/errors.ts';
import type { Em } from '../../platform/db/context.ts';
import type { Logger } from '../../platform/logger/logger.ts';
import type { AccessService } from '../access/access.service.ts';
import type { Letter } from '../notifications/mail-requests.ts';
import { appLink, sendMail, type DataServices } from '../notifications/notifications.service.ts';
import { revokeEveryTokenOfUser } from './auth.service.ts';
import { hashPassword } from './password.ts';
import { PasswordResetToken } from './password-reset.entity.ts';
import { User } from './user.entity.ts';

export const RESET_TTL_MINUTES = 60;
const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * Asks for a reset link to be emailed. At most three requests per email an hour (the `password_reset` policy),
 * whether or not the address has an account. The request does the same work either way — the limit, then one mail
 * job carrying the address — and never reads the users table: the job finds the account and mints the link
 * (`passwordResetLetter`), so neither the answer nor its timing tells who has an account.
 */
export async function requestPasswordReset(
  s: Pick<DataServices, 'rateLimits' | 'queue'>,
  email: string,
): Promise<void> {
  await s.rateLimits.enforce('password_reset', `email:${email}`);
  await sendMail(s.queue, { template: 'password-reset', email }, null);
}

/**
 * The mail job's side of a reset request: nothing to send for an address without an account; otherwise a fresh
 * single-use link, valid for an hour, minted when the message is written. Minting deletes the user's other unused
 * links in the same transaction, under a lock on the user's row, so however often the job is retried or the user
 * asks again, at most one link is live, and it is the one in the last message written.
 */
export async function passwordResetLetter(
  s: Pick<DataServices, 'config'>,
  em: Em,
  email: string,
): Promise<Letter | null> {
  const user = await em.findOne(User, { email });
  if (!user) return null;
  return {
    to: user.email,
    async write() {
      const token = randomBytes(32).toString('base64url');
      const minted = await em.transactional(async (tx) => {
        if (!(await tx.findOne(User, { id: user.id }, { lockMode: LockMode.PESSIMISTIC_WRITE })))
          return false;
        await tx.nativeDelete(PasswordResetToken, { user: user.id, usedAt: null });
        tx.create(PasswordResetToken, {
          user: user.id,
          tokenHash: hashToken(token),
          expiresAt: new Date(Date.now() + RESET_TTL_MINUTES * 60_000),
        });
        return true;
      });
      if (!minted) return null;
      return {
        template: 'password-reset',
        name: user.name,
        url: appLink(s.config, `/reset-password?token=${token}`),
        expiresInMinutes: RESET_TTL_MINUTES,
      };
    },
  };
}

export interface CompleteResetOptions {
  /**
   * Leave the user's API tokens working. Off unless the caller explicitly asks: a reset is what someone does when
   * they think their account is compromised, so by default it ends every credential.
   */
  keepApiTokens?: boolean;
}

/**
 * Sets the new password if the token is known, unused and unexpired, and ends every credential of the account:
 * every browser session, every other pending reset link and — unless `keepApiTokens` — every API token in every
 * organization (whoever knew the old password, or took a token with it, is out). Marking the token used is the same
 * statement that checks it, so two concurrent uses cannot both succeed; the password, the other reset links and the
 * tokens change in one transaction. Live subscriptions (sessions' and tokens' alike, on every process) end through
 * the user's revocation key, announced once the sessions are gone.
 */
export async function completePasswordReset(
  s: { access: Pick<AccessService, 'endAllSessions'>; logger: Logger },
  em: Em,
  token: string,
  password: string,
  opts: CompleteResetOptions = {},
): Promise<{ userId: string; tokensRevoked: number }> {
  const tokenHash = hashToken(token);
  const found = await em.findOne(PasswordResetToken, { tokenHash });
  if (!found || found.usedAt)
    throw new AppError('TOKEN_INVALID', 'This reset link is not valid; request a new one');
  if (found.expiresAt.getTime() <= Date.now()) {
    throw new AppError('TOKEN_EXPIRED', 'This reset link has expired; request a new one');
  }
  const passwordHash = await hashPassword(password);
  const userId = found.user.id;
  const tokensRevoked = await em.transactional(async (tx) => {
    const claimed = await tx.nativeUpdate(
      PasswordResetToken,
      { tokenHash, usedAt: null, expiresAt: { $gt: new Date() } },
      { usedAt: new Date() },
    );
    if (claimed !== 1) throw new AppError('TOKEN_INVALID', 'This reset link is not valid; request a new one');
    await tx.nativeUpdate(User, { id: userId }, { passwordHash });
    await tx.nativeDelete(PasswordResetToken, { user: userId, usedAt: null });
    return opts.keepApiTokens ? 0 : revokeEveryTokenOfUser(tx, userId);
  });
  // Once the tokens' revocation is committed: the sessions go, every process drops the user's cached principals
  // (and confirms), then the live subscriptions rechecking find them gone.
  await s.access.endAllSessions(userId);
  s.logger.info(
    { userId, tokensRevoked, apiTokensKept: Boolean(opts.keepApiTokens) },
    'password reset: sessions ended',
  );
  return { userId, tokensRevoked };
}
