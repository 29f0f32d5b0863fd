import { z } from 'zod';
import { email } from '../../../shared/schemas/common.ts';
import { defineJob } from '../queue/definition.ts';
import type { RateLimits } from '../rate-limit/rate-limiter.ts';
import type { Mailer } from './mailer.ts';
import { mailMessage, renderMail } from './templates.ts';

export const MAIL_JOB = 'mail.send';

export const mailJobPayload = z.object({ to: email, message: mailMessage }).strict();
export type MailJobPayload = z.input<typeof mailJobPayload>;

/**
 * Sends one templated message on the `mail` queue. The `mail` rate-limit policy (per organization, plus the
 * provider's quota for the whole installation) is checked in the worker: over it, the job goes back on the queue
 * until the window allows it, so a burst is spread out instead of refused or lost.
 */
export function createMailJob(deps: { mailer: Mailer; rateLimits: RateLimits }) {
  return defineJob({
    name: MAIL_JOB,
    queue: 'mail',
    payload: mailJobPayload,
    // Releases count as attempts; exceptions (the SMTP server refusing or unreachable) are bounded separately.
    tries: 30,
    maxExceptions: 5,
    backoff: [5_000, 30_000, 120_000, 600_000],
    timeoutMs: 30_000,
    tags: (p) => [`mail:${p.message.template}`],
    handle: async (p, ctx) => {
      const decision = await deps.rateLimits.consume(
        'mail',
        ctx.organizationId ? `org:${ctx.organizationId}` : 'system',
      );
      if (!decision.allowed) ctx.release(decision.retryAfter * 1000);
      const sent = await deps.mailer.send({ to: p.to, ...renderMail(p.message) });
      return { messageId: sent.messageId };
    },
  });
}
