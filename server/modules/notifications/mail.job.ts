import { createHash } from 'node:crypto';
import { mailMessage, renderMail } from '../../platform/mail/templates.ts';
import { defineAppJob } from '../jobs/define.ts';
import { letterFor } from './letters.ts';
import { MAIL_JOB, mailRequest } from './mail-requests.ts';

/**
 * Sends one message on the `mail` queue, in three steps: find the recipient (nothing to send: done), take a share
 * of the `mail` policy (per organization — per recipient for mail outside organizations — plus the provider's quota
 * for the whole installation), then write the message — minting its link — and send it. Over the policy the job goes
 * back on the queue until the window allows it, so a burst is spread out instead of refused or lost; an address
 * without an account costs no share.
 */
export const mailJob = defineAppJob({
  name: MAIL_JOB,
  queue: 'mail',
  payload: mailRequest,
  // Releases count as attempts; exceptions (the SMTP server refusing or unreachable) are bounded separately.
  tries: 30,
  maxExceptions: 5,
  backoff: [5_000, 30_000, 120_000, 600_000],
  timeoutMs: 30_000,
  tags: (p) => [`mail:${p.template}`],
  handle: async (p, ctx) => {
    const s = ctx.services;
    const letter = await letterFor(s, ctx.em, p);
    if (!letter) return { sent: false };
    const decision = await s.rateLimits.consume(
      'mail',
      // Mail outside organizations (sign-up confirmations, password resets) is shared out per recipient: one bucket
      // for the whole installation would make every user's reset wait behind a burst of sign-ups. The address is
      // hashed so no limit key names it.
      ctx.organizationId ? `org:${ctx.organizationId}` : `to:${recipientKey(letter.to)}`,
    );
    if (!decision.allowed) ctx.release(decision.retryAfter * 1000);
    const message = await letter.write();
    if (!message) return { sent: false };
    // Parsed again: a link that is not http(s), or a field out of bounds, never reaches a mailbox.
    await s.mailer.send({ to: letter.to, ...renderMail(mailMessage.parse(message)) });
    return { sent: true };
  },
});

/** A recipient's share key: a digest of the address as mailed (case-folded), never the address itself. */
function recipientKey(address: string): string {
  return createHash('sha256').update(address.toLowerCase()).digest('base64url').slice(0, 22);
}
