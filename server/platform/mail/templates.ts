import { z } from 'zod';

// Every message Keel sends, as data, and its rendering. The mail job writes this data when it sends (links are
// minted then: it is never queued, see modules/notifications/mail-requests.ts), checks it against `mailMessage` and
// renders it; so a template fix reaches mail already queued.

const link = z
  .string()
  .url()
  .max(4000)
  .refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL');
const name = z.string().min(1).max(200);
const when = z.string().datetime();

export const mailMessage = z.discriminatedUnion('template', [
  z.object({
    template: z.literal('export-ready'),
    organizationName: name,
    rows: z.number().int().min(0),
    url: link,
    expiresAt: when,
  }),
  z.object({ template: z.literal('export-failed'), organizationName: name, reason: z.string().max(500) }),
  z.object({
    template: z.literal('import-completed'),
    organizationName: name,
    filename: name,
    rows: z.number().int().min(0),
  }),
  z.object({
    template: z.literal('import-failed'),
    organizationName: name,
    filename: name,
    errorCount: z.number().int().min(0),
    errors: z
      .array(z.object({ line: z.number().int(), column: z.string().max(100), reason: z.string().max(300) }))
      .max(10),
    reportUrl: link.nullable(),
    /** Why the file could not be processed at all (rather than which rows are wrong). */
    reason: z.string().max(300).optional(),
  }),
  z.object({
    template: z.literal('import-batch-finished'),
    organizationName: name,
    files: z.number().int().min(0),
    imported: z.number().int().min(0),
    failed: z.number().int().min(0),
    rows: z.number().int().min(0),
    url: link,
  }),
  z.object({
    template: z.literal('payment-failed'),
    organizationName: name,
    attempt: z.enum(['first', 'second', 'final']),
    amount: z.string().max(40),
    billingUrl: link,
  }),
  z.object({ template: z.literal('trial-ending'), organizationName: name, endsAt: when, billingUrl: link }),
  z.object({
    template: z.literal('password-reset'),
    name,
    url: link,
    expiresInMinutes: z.number().int().positive(),
  }),
  z.object({
    template: z.literal('confirm-registration'),
    name,
    organizationName: name,
    url: link,
    expiresInHours: z.number().int().positive(),
  }),
  z.object({ template: z.literal('account-exists'), name, signInUrl: link, resetUrl: link }),
  z.object({
    template: z.literal('invitation'),
    organizationName: name,
    inviterName: name,
    role: z.string().max(40),
    url: link,
    expiresAt: when,
  }),
]);
export type MailMessage = z.infer<typeof mailMessage>;
export type MailTemplate = MailMessage['template'];

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

const escape = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const day = (iso: string) => new Date(iso).toUTCString().replace(/ \d\d:\d\d:\d\d GMT$/, '');

/** One message's parts: paragraphs, an optional button and an optional list; text and HTML come from the same parts. */
interface Parts {
  subject: string;
  greeting?: string;
  paragraphs: string[];
  action?: { label: string; url: string };
  list?: string[];
  footer?: string;
}

function compose(p: Parts): RenderedMail {
  const text = [
    ...(p.greeting ? [p.greeting] : []),
    ...p.paragraphs,
    ...(p.list?.length ? [p.list.map((l) => `  - ${l}`).join('\n')] : []),
    ...(p.action ? [`${p.action.label}: ${p.action.url}`] : []),
    ...(p.footer ? [p.footer] : []),
    '— Keel',
  ].join('\n\n');
  const html = [
    '<!doctype html><html><body style="font-family:system-ui,sans-serif;line-height:1.5;color:#111">',
    ...(p.greeting ? [`<p>${escape(p.greeting)}</p>`] : []),
    ...p.paragraphs.map((t) => `<p>${escape(t)}</p>`),
    ...(p.list?.length ? [`<ul>${p.list.map((l) => `<li>${escape(l)}</li>`).join('')}</ul>`] : []),
    ...(p.action
      ? [
          `<p><a href="${escape(p.action.url)}" style="display:inline-block;padding:10px 16px;background:#1d4ed8;color:#fff;border-radius:6px;text-decoration:none">${escape(p.action.label)}</a></p>`,
          `<p style="font-size:12px;color:#555">Or copy this link: ${escape(p.action.url)}</p>`,
        ]
      : []),
    ...(p.footer ? [`<p style="font-size:12px;color:#555">${escape(p.footer)}</p>`] : []),
    '<p>— Keel</p></body></html>',
  ].join('\n');
  return { subject: p.subject, text, html };
}

const ATTEMPT_WORDS = {
  first: 'could not be charged',
  second: 'failed again',
  final: 'failed for the last time',
};

export function renderMail(m: MailMessage): RenderedMail {
  switch (m.template) {
    case 'export-ready':
      return compose({
        subject: `Your export of ${m.organizationName} is ready`,
        paragraphs: [
          `Your export of ${m.organizationName} (${m.rows.toLocaleString('en-US')} rows) is ready to download.`,
        ],
        action: { label: 'Download the CSV', url: m.url },
        footer: `The link works until ${day(m.expiresAt)}.`,
      });
    case 'export-failed':
      return compose({
        subject: `Your export of ${m.organizationName} failed`,
        paragraphs: [
          `Your export of ${m.organizationName} could not be completed: ${m.reason}`,
          'No partial file was kept. You can request it again.',
        ],
      });
    case 'import-completed':
      return compose({
        subject: `Import of ${m.filename} completed`,
        paragraphs: [
          `${m.rows.toLocaleString('en-US')} rows from ${m.filename} were imported into ${m.organizationName}.`,
        ],
      });
    case 'import-failed':
      return compose({
        subject: `Import of ${m.filename} failed`,
        paragraphs: [
          m.reason
            ? `${m.filename} could not be imported into ${m.organizationName}: ${m.reason}. Nothing was written.`
            : `${m.filename} was not imported into ${m.organizationName}: ${m.errorCount} problem${m.errorCount === 1 ? '' : 's'} found. Nothing was written.`,
        ],
        list: m.errors.map((e) => `line ${e.line}, ${e.column}: ${e.reason}`),
        ...(m.reportUrl ? { action: { label: 'Download the full report', url: m.reportUrl } } : {}),
      });
    case 'import-batch-finished':
      return compose({
        subject: `Batch import: ${m.imported} of ${m.files} files imported`,
        paragraphs: [
          `Your batch import into ${m.organizationName} has finished: ${m.imported} of ${m.files} files imported (${m.rows.toLocaleString('en-US')} rows), ${m.failed} not imported.`,
        ],
        action: { label: 'See the reports', url: m.url },
      });
    case 'payment-failed':
      return compose({
        subject:
          m.attempt === 'final'
            ? `Final notice: payment for ${m.organizationName} failed`
            : `Payment for ${m.organizationName} ${ATTEMPT_WORDS[m.attempt]}`,
        paragraphs: [
          `The payment of ${m.amount} for ${m.organizationName} ${ATTEMPT_WORDS[m.attempt]}.`,
          m.attempt === 'final'
            ? 'We will not retry. Update your payment method to keep your subscription.'
            : 'We will retry automatically. Updating your payment method now avoids an interruption.',
        ],
        action: { label: 'Update payment method', url: m.billingUrl },
      });
    case 'trial-ending':
      return compose({
        subject: `Your ${m.organizationName} trial ends on ${day(m.endsAt)}`,
        paragraphs: [
          `The trial of ${m.organizationName} ends on ${day(m.endsAt)}. Choose a plan to keep going.`,
        ],
        action: { label: 'Choose a plan', url: m.billingUrl },
      });
    case 'password-reset':
      return compose({
        subject: 'Reset your Keel password',
        greeting: `Hello ${m.name},`,
        paragraphs: ['Someone (hopefully you) asked to reset the password of your Keel account.'],
        action: { label: 'Choose a new password', url: m.url },
        footer: `The link works once, for ${m.expiresInMinutes} minutes. If you did not ask for it, ignore this message: your password stays as it is.`,
      });
    case 'confirm-registration':
      return compose({
        subject: 'Confirm your email to create your Keel account',
        greeting: `Hello ${m.name},`,
        paragraphs: [
          `Someone (hopefully you) asked to create a Keel account with this address, for the organization ${m.organizationName}. Confirm it is your address to create the account and sign in.`,
        ],
        action: { label: 'Confirm and create the account', url: m.url },
        footer: `The link works once, for ${m.expiresInHours} hours. If you did not ask for it, ignore this message: no account is created.`,
      });
    case 'account-exists':
      return compose({
        subject: 'You already have a Keel account',
        greeting: `Hello ${m.name},`,
        paragraphs: [
          'Someone (hopefully you) tried to create a Keel account with this address, but it already has one, so no new account was created. Sign in with it, or choose a new password if you have forgotten yours.',
        ],
        action: { label: 'Sign in', url: m.signInUrl },
        footer: `Forgot your password? Reset it: ${m.resetUrl}. If you did not try to sign up, ignore this message: nothing changed.`,
      });
    case 'invitation':
      return compose({
        subject: `${m.inviterName} invited you to ${m.organizationName} on Keel`,
        paragraphs: [`${m.inviterName} invited you to join ${m.organizationName} as ${m.role}.`],
        action: { label: 'Accept the invitation', url: m.url },
        footer: `The invitation expires on ${day(m.expiresAt)}.`,
      });
  }
}
