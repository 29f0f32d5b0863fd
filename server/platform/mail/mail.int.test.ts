import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../logger/logger.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { JobRegistry } from '../queue/registry.ts';
import { mergeSettings, queueSettingsFor } from '../queue/settings.ts';
import { QueueSystem } from '../queue/system.ts';
import { Worker } from '../queue/worker.ts';
import { RateLimits } from '../rate-limit/rate-limiter.ts';
import { createMailJob, MAIL_JOB } from './mail.job.ts';
import { OutboxMailer, SmtpMailer } from './mailer.ts';
import { renderMail } from './templates.ts';
import { startSmtpCapture, type SmtpCapture } from './testing/smtp-capture.ts';

let env: TestEnv;
let smtp: SmtpCapture;

beforeAll(async () => {
  smtp = await startSmtpCapture();
  env = await createTestEnv({ SMTP_URL: smtp.url, MAIL_FROM: 'Keel <no-reply@keel.test>' });
});
afterAll(async () => {
  await env?.close();
  await smtp?.close();
});

const ORG = '00000000-0000-4000-8000-00000000000a';

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

  it('goes through the mail queue: a worker renders and sends what was dispatched', async () => {
    const before = smtp.messages.length;
    const worker = new Worker(env.deps.queue, { queues: ['mail'], concurrency: 2, leader: false });
    await worker.start();
    try {
      const url = 'http://localhost:3000/invitations/accept?token=tok';
      const r = await env.deps.queue.dispatch(
        MAIL_JOB,
        {
          to: 'New.Member@Example.test',
          message: {
            template: 'invitation',
            organizationName: 'Acme',
            inviterName: 'Ann',
            role: 'admin',
            url,
            expiresAt: new Date().toISOString(),
          },
        },
        { organizationId: ORG },
      );
      expect(r.dispatched).toBe(true);
      const [mail] = (await smtp.waitFor(before + 1)).slice(before);
      expect(mail!.to).toEqual(['new.member@example.test']);
      expect(mail!.subject).toBe('Ann invited you to Acme on Keel');
      expect(mail!.decoded).toContain(url);
    } finally {
      await worker.stop(1_000);
    }
  });

  it('refuses a malformed message at dispatch, before anything is queued', async () => {
    await expect(
      env.deps.queue.dispatch(MAIL_JOB, {
        to: 'not-an-email',
        message: { template: 'export-failed', organizationName: 'A', reason: 'x' },
      }),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(
      env.deps.queue.dispatch(MAIL_JOB, {
        to: 'a@b.test',
        message: { template: 'password-reset', name: 'a', url: 'javascript:x', expiresInMinutes: 1 },
      }),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('the mail policy holds back what is over the limit instead of dropping it', async () => {
    // A queue system of its own, with a policy of 2 per minute per organization.
    const registry = new JobRegistry();
    const mailer = new SmtpMailer(smtp.url, 'Keel <no-reply@keel.test>');
    const rateLimits = new RateLimits({
      redis: env.deps.redis.get('limits'),
      keyspace: `${env.deps.redis.keyspace('limits')}mailtest:`,
      policies: { mail: { per: 'organization', rules: [{ points: 2, duration: 60 }] } },
    });
    registry.register(createMailJob({ mailer, rateLimits }));
    const system = new QueueSystem({
      config: { ...env.config, keyPrefix: `${env.config.keyPrefix}mailpolicy:` },
      redis: env.deps.redis.get('queue'),
      em: env.deps.em,
      logger: createLogger({ level: 'silent', pretty: false }),
      registry,
      settings: mergeSettings(queueSettingsFor('test')),
    });
    const worker = new Worker(system, { queues: ['mail'], concurrency: 1, leader: false });
    await worker.start();
    const before = smtp.messages.length;
    try {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await system.dispatch(
          MAIL_JOB,
          {
            to: `p${i}@example.test`,
            message: { template: 'export-failed', organizationName: 'Acme', reason: `r${i}` },
          },
          { organizationId: ORG },
        );
        ids.push(r.id!);
      }
      await smtp.waitFor(before + 2);
      const held = await (async () => {
        for (let i = 0; i < 100; i++) {
          const states = await Promise.all(ids.map((id) => system.index.get(id)));
          const released = states.find((s) => s?.status === 'released' || s?.status === 'delayed');
          if (released) return released;
          await new Promise((r) => setTimeout(r, 50));
        }
        return null;
      })();
      expect(held).not.toBeNull();
      expect(smtp.messages.length - before).toBe(2);
    } finally {
      await worker.stop(1_000);
      await system.close();
      mailer.close();
    }
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
