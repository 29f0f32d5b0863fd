import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../logger/logger.ts';
import { OutboxMailer, SmtpMailer } from './mailer.ts';
import { renderMail } from './templates.ts';
import { startSmtpCapture, type SmtpCapture } from './testing/smtp-capture.ts';

let smtp: SmtpCapture;

beforeAll(async () => {
  smtp = await startSmtpCapture();
});
afterAll(async () => {
  await smtp?.close();
});

describe('SMTP delivery', () => {
  it('delivers plain text and HTML to the recipient, with the link intact', async () => {
    const mailer = new SmtpMailer(smtp.url, 'Keel <no-reply@keel.test>');
    const before = smtp.messages.length;
    const url = 'http://localhost:3000/reset-password?token=abc_DEF-123';
    await mailer.send({
      to: 'zoe@example.test',
      ...renderMail({ template: 'password-reset', name: 'Zoë', url, expiresInMinutes: 60 }),
    });
    mailer.close();
    const [mail] = (await smtp.waitFor(before + 1)).slice(before);
    expect(mail!.to).toEqual(['zoe@example.test']);
    expect(mail!.from).toBe('no-reply@keel.test');
    expect(mail!.subject).toBe('Reset your Keel password');
    expect(mail!.raw).toMatch(/Content-Type: multipart\/alternative/i);
    expect(mail!.raw).toMatch(/Content-Type: text\/plain/i);
    expect(mail!.raw).toMatch(/Content-Type: text\/html/i);
    expect(mail!.decoded).toContain(url);
    expect(mail!.decoded).toContain(`href="${url}"`);
    expect(mail!.decoded).toContain('Hello Zoë,');
  });
});

describe('embedded outbox (no SMTP_URL)', () => {
  it('writes each message as an .eml file and logs where', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'keel-mail-'));
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logger = createLogger({ level: 'info', pretty: false, stream });
    const mailer = new OutboxMailer(dir, 'Keel <no-reply@keel.test>', logger);
    try {
      const sent = await mailer.send({
        to: 'a@example.test',
        ...renderMail({ template: 'export-failed', organizationName: 'Acme', reason: 'disk full' }),
      });
      const files = await readdir(dir);
      expect(files).toHaveLength(1);
      expect(files[0]).toMatch(/\.eml$/);
      expect(sent.file).toBe(path.join(dir, files[0]!));
      const eml = await readFile(sent.file!, 'utf8');
      expect(eml).toContain('To: a@example.test');
      expect(eml).toContain('Subject: Your export of Acme failed');
      expect(lines.join('')).toContain(sent.file!);
    } finally {
      mailer.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
