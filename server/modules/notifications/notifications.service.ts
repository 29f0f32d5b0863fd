import type { AppDeps } from '../../deps.ts';
import type { DispatchResult, QueueSystem } from '../../platform/queue/system.ts';
import { MAIL_JOB } from '../../platform/mail/mail.job.ts';
import type { MailMessage } from '../../platform/mail/templates.ts';
import { notifyUser, type NotificationInput } from '../realtime/realtime.service.ts';

/** What exports, imports, invitations and password resets need from a process, in jobs and in requests alike. */
export type DataServices = Pick<
  AppDeps,
  'config' | 'logger' | 'em' | 'storage' | 'mailer' | 'rateLimits' | 'realtime' | 'queue'
>;

/**
 * Queues a templated email on the `mail` queue (never sends inline: a slow or failing SMTP server must not hold a
 * request, and the `mail` rate-limit policy is applied where it is sent). `organizationId` is whose share of the
 * policy it counts against; null for mail outside any organization (password resets).
 */
export function sendMail(
  queue: QueueSystem,
  to: string,
  message: MailMessage,
  organizationId: string | null,
): Promise<DispatchResult> {
  return queue.dispatch(MAIL_JOB, { to, message }, { organizationId });
}

/** An in-app notification (user.notifications); failures are logged, never thrown: it accompanies an email. */
export async function notifyInApp(
  s: Pick<DataServices, 'realtime' | 'logger'>,
  userId: string,
  n: NotificationInput,
): Promise<void> {
  await notifyUser(s.realtime.log, userId, n).catch((err: unknown) =>
    s.logger.warn({ err, userId }, 'in-app notification not published'),
  );
}

export const appLink = (config: { appUrl: string }, path: string) => new URL(path, config.appUrl).toString();
