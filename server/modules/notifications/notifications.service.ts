import type { JobServices } from '../../app-deps.ts';
import type { DispatchResult, QueueSystem } from '../../platform/queue/system.ts';
import { notifyUser, type NotificationInput } from '../realtime/realtime.service.ts';
import { MAIL_JOB, type MailRequest } from './mail-requests.ts';

/**
 * What exports, imports, invitations and password resets need from a process, in jobs and in requests alike: the
 * services jobs get as `ctx.services`.
 */
export type DataServices = JobServices;

/**
 * Queues an email on the `mail` queue (never sends inline: a slow or failing SMTP server must not hold a request,
 * and the `mail` rate-limit policy is applied where it is sent). The request names the message and its ids; the
 * worker writes it, minting any link then (mail-requests.ts). `organizationId` is whose share of the policy it
 * counts against, and the tenant scope the worker looks the ids up in; null for mail outside any organization
 * (password resets).
 */
export function sendMail(
  queue: QueueSystem,
  request: MailRequest,
  organizationId: string | null,
): Promise<DispatchResult> {
  return queue.dispatch(MAIL_JOB, request, { organizationId });
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
