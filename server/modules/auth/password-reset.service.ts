import { createHash, randomBytes } from 'node:crypto';
import { AppError } from '../../../shared/errors.ts';
import type { Em } from '../../platform/db/context.ts';
import type { Realtime } from '../../platform/realtime/realtime.ts';
import { appLink, sendMail, type DataServices } from '../notifications/notifications.service.ts';
import { hashPassword } from './password.ts';
import { PasswordResetToken } from './password-reset.entity.ts';
import type { SessionStore } from './session.store.ts';
import { User } from './user.entity.ts';

export const RESET_TTL_MINUTES = 60;
const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * Emails a single-use reset link valid for an hour, and invalidates earlier ones. At most three requests per email
 * an hour (the `password_reset` policy), whether or not the address has an account; the answer is the same
 * either way, so it does not reveal who has one.
 */
export async function requestPasswordReset(
  s: Pick<DataServices, 'rateLimits' | 'queue' | 'config'>,
  em: Em,
  email: string,
): Promise<void> {
  await s.rateLimits.enforce('password_reset', `email:${email}`);
  const user = await em.findOne(User, { email });
  if (!user) return;
  const token = randomBytes(32).toString('base64url');
  await em.transactional(async (tx) => {
    await tx.nativeDelete(PasswordResetToken, { user: user.id, usedAt: null });
    tx.create(PasswordResetToken, {
      user: user.id,
      tokenHash: hashToken(token),
      expiresAt: new Date(Date.now() + RESET_TTL_MINUTES * 60_000),
    });
  });
  await sendMail(
    s.queue,
    user.email,
    {
      template: 'password-reset',
      name: user.name,
      url: appLink(s.config, `/reset-password?token=${token}`),
      expiresInMinutes: RESET_TTL_MINUTES,
    },
    null,
  );
}

/**
 * Sets the new password if the token is known, unused and unexpired, and signs the user out everywhere (whoever
 * knew the old password is logged out). Marking the token used is the same statement that checks it, so two
 * concurrent uses cannot both succeed.
 */
export async function completePasswordReset(
  s: { sessions: SessionStore; realtime: Pick<Realtime, 'revoke'> },
  em: Em,
  token: string,
  password: string,
): Promise<{ userId: string }> {
  const tokenHash = hashToken(token);
  const found = await em.findOne(PasswordResetToken, { tokenHash });
  if (!found || found.usedAt)
    throw new AppError('TOKEN_INVALID', 'This reset link is not valid; request a new one');
  if (found.expiresAt.getTime() <= Date.now()) {
    throw new AppError('TOKEN_EXPIRED', 'This reset link has expired; request a new one');
  }
  const passwordHash = await hashPassword(password);
  const userId = found.user.id;
  await em.transactional(async (tx) => {
    const claimed = await tx.nativeUpdate(
      PasswordResetToken,
      { tokenHash, usedAt: null, expiresAt: { $gt: new Date() } },
      { usedAt: new Date() },
    );
    if (claimed !== 1) throw new AppError('TOKEN_INVALID', 'This reset link is not valid; request a new one');
    await tx.nativeUpdate(User, { id: userId }, { passwordHash });
  });
  await s.sessions.destroyAllForUser(userId);
  // Once the sessions are gone, so that the live subscriptions rechecking now find them gone.
  await s.realtime.revoke([`user:${userId}`]);
  return { userId };
}
