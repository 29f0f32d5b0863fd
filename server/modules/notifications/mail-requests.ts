import { z } from 'zod';
import { email, uuid } from '../../../shared/schemas/common.ts';
import type { MailMessage } from '../../platform/mail/templates.ts';

export const MAIL_JOB = 'mail.send';

const name = z.string().min(1).max(200);
const count = z.number().int().min(0);

/**
 * What a mail job carries: which message and the ids (or plain facts) it is made from — never a link, a token or
 * anything else that grants access. Job payloads are visible to staff (the console), kept in Redis and, when a job
 * fails for good, in `failed_jobs`; so the worker looks the rest up and mints every link (password reset,
 * invitation, signed download) when it sends. A retried or re-dispatched job mints a fresh link and the earlier one
 * stops working (signed download links, which nothing stores, simply expire).
 */
export const mailRequest = z.discriminatedUnion('template', [
  /** Carries the address, not the account: the request does the same work whether or not one exists. */
  z.object({ template: z.literal('password-reset'), email }).strict(),
  /**
   * One template whether or not the address already has an account: the job decides which message to write (a
   * confirmation link, or "you already have an account"), so the queue and the console tell nothing either.
   */
  z.object({ template: z.literal('registration'), registrationId: uuid }).strict(),
  z.object({ template: z.literal('invitation'), invitationId: uuid }).strict(),
  z.object({ template: z.literal('export-ready'), exportId: uuid }).strict(),
  z.object({ template: z.literal('export-failed'), exportId: uuid }).strict(),
  z.object({ template: z.literal('import-completed'), importId: uuid }).strict(),
  z.object({ template: z.literal('import-failed'), importId: uuid }).strict(),
  z
    .object({
      template: z.literal('import-batch-finished'),
      to: email,
      organizationName: name,
      batchId: z.string().regex(/^[A-Za-z0-9-]{1,64}$/),
      files: count,
      imported: count,
      failed: count,
      rows: count,
    })
    .strict(),
  z
    .object({
      template: z.literal('payment-failed'),
      to: email,
      organizationName: name,
      attempt: z.enum(['first', 'second', 'final']),
      amount: z.string().max(40),
    })
    .strict(),
  z
    .object({
      template: z.literal('trial-ending'),
      to: email,
      organizationName: name,
      endsAt: z.string().datetime(),
    })
    .strict(),
]);
export type MailRequest = z.input<typeof mailRequest>;

/**
 * A message the mail job is about to send: the recipient, found by the job's first (read-only) step, and `write`,
 * which mints whatever link the message needs once the `mail` policy lets it go out. `write` answers null when
 * there is nothing to send any more (the invitation was withdrawn meanwhile, the export expired).
 */
export interface Letter {
  to: string;
  write(): Promise<MailMessage | null>;
}
