import { describe, expect, it } from 'vitest';
import { mailMessage, renderMail, type MailMessage } from './templates.ts';

const url = 'https://app.keel.test/x?token=abc&y=1';
const at = '2026-12-01T10:00:00.000Z';
const org = 'Acme <script>alert(1)</script> & Co';

const samples: MailMessage[] = [
  { template: 'export-ready', organizationName: org, rows: 1_000_000, url, expiresAt: at },
  { template: 'export-failed', organizationName: org, reason: 'the database was unreachable' },
  { template: 'import-completed', organizationName: org, filename: 'q1.csv', rows: 42 },
  {
    template: 'import-failed',
    organizationName: org,
    filename: 'q1.csv',
    errorCount: 3,
    errors: [{ line: 4, column: 'Amount', reason: 'must be a number' }],
    reportUrl: url,
  },
  {
    template: 'import-batch-finished',
    organizationName: org,
    files: 50,
    imported: 48,
    failed: 2,
    rows: 4800,
    url,
  },
  { template: 'payment-failed', organizationName: org, attempt: 'first', amount: '$49.00', billingUrl: url },
  { template: 'payment-failed', organizationName: org, attempt: 'second', amount: '$49.00', billingUrl: url },
  { template: 'payment-failed', organizationName: org, attempt: 'final', amount: '$49.00', billingUrl: url },
  { template: 'trial-ending', organizationName: org, endsAt: at, billingUrl: url },
  { template: 'password-reset', name: 'Zoë', url, expiresInMinutes: 60 },
  { template: 'confirm-registration', name: 'Zoë', organizationName: org, url, expiresInHours: 24 },
  { template: 'account-exists', name: 'Zoë', signInUrl: url, resetUrl: url },
  { template: 'invitation', organizationName: org, inviterName: 'Ann', role: 'admin', url, expiresAt: at },
];

describe('mail templates', () => {
  it.each(samples.map((m) => [m.template, m] as const))(
    '%s renders a subject, plain text and HTML',
    (_t, m) => {
      expect(mailMessage.parse(m)).toEqual(m);
      const r = renderMail(m);
      expect(r.subject.length).toBeGreaterThan(5);
      expect(r.text).not.toContain('<p>');
      expect(r.html).toContain('<!doctype html>');
      // Names come from users: literal in plain text, escaped text in HTML, never markup.
      expect(r.html).not.toContain('<script>');
      if (JSON.stringify(m).includes('<script>')) {
        expect(r.text).toContain(org);
        expect(r.html).toContain('Acme &lt;script&gt;alert(1)&lt;/script&gt; &amp; Co');
      }
      if ('url' in m || 'billingUrl' in m || 'signInUrl' in m || ('reportUrl' in m && m.reportUrl)) {
        expect(r.text).toContain(url);
        expect(r.html).toContain('href="https://app.keel.test/x?token=abc&amp;y=1"');
      }
    },
  );

  it('the three payment notices read differently', () => {
    const subjects = samples.filter((m) => m.template === 'payment-failed').map((m) => renderMail(m).subject);
    expect(new Set(subjects).size).toBe(3);
    expect(subjects[2]).toMatch(/^Final notice/);
  });

  it('refuses non-http links and unknown templates', () => {
    expect(
      mailMessage.safeParse({
        template: 'password-reset',
        name: 'a',
        url: 'javascript:alert(1)',
        expiresInMinutes: 5,
      }).success,
    ).toBe(false);
    expect(mailMessage.safeParse({ template: 'nope' }).success).toBe(false);
  });
});
