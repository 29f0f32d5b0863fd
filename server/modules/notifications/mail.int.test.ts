import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDbScope } from '../../platform/db/context.ts';
import { createLogger } from '../../platform/logger/logger.ts';
import { SmtpMailer } from '../../platform/mail/mailer.ts';
import {
  startSmtpCapture,
  type CapturedMail,
  type SmtpCapture,
} from '../../platform/mail/testing/smtp-capture.ts';
import { JobRegistry } from '../../platform/queue/registry.ts';
import { mergeSettings, queueSettingsFor } from '../../platform/queue/settings.ts';
import { QueueSystem } from '../../platform/queue/system.ts';
import { Worker } from '../../platform/queue/worker.ts';
import { RateLimits } from '../../platform/rate-limit/rate-limiter.ts';
import { callerAs, createOrg } from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { PasswordResetToken } from '../auth/password-reset.entity.ts';
import { passwordResetLetter } from '../auth/password-reset.service.ts';
import { mailJob } from './mail.job.ts';
import { MAIL_JOB } from './mail-requests.ts';
import { sendMail } from './notifications.service.ts';
import { until } from '../../test/until.ts';

let env: TestEnv;
let smtp: SmtpCapture;
let worker: Worker;
/** Recipients whose next message the SMTP server refuses (451): that mail job fails once and is retried. */
const refuseOnce = new Set<string>();

beforeAll(async () => {
  smtp = await startSmtpCapture({
    refuse: (m) => m.to.some((to) => refuseOnce.delete(to)),
  });
  env = await createTestEnv({ SMTP_URL: smtp.url, MAIL_FROM: 'Keel <no-reply@keel.test>' });
  worker = new Worker(env.deps.queue, { queues: ['mail'], concurrency: 2 });
  await worker.start();
});
afterAll(async () => {
  await worker?.stop(1_000);
  await env?.close();
  await smtp?.close();
});

const ORG = '00000000-0000-4000-8000-00000000000a';

const mailTo = (address: string, subject: RegExp, from = 0) =>
  until(
    () => smtp.messages.slice(from).find((m) => m.to.includes(address) && subject.test(m.subject)),
    `mail to ${address}`,
    30_000,
  );
const tokenIn = (mail: CapturedMail) => /token=([A-Za-z0-9_-]{43})/.exec(mail.decoded)![1]!;
const completed = (id: string) =>
  until(
    async () => {
      const j = await env.deps.queue.index.get(id);
      return j?.status === 'completed' ? j : null;
    },
    `job ${id}`,
    30_000,
  );

describe('the mail job', () => {
  it('writes the message a request names when it sends it, adding the links', async () => {
    const before = smtp.messages.length;
    const r = await env.deps.queue.dispatch(
      MAIL_JOB,
      {
        template: 'payment-failed',
        to: 'New.Member@Example.test',
        organizationName: 'Acme',
        attempt: 'first',
        amount: '$49.00',
      },
      { organizationId: ORG },
    );
    expect(r.dispatched).toBe(true);
    const mail = await mailTo('new.member@example.test', /Payment for Acme could not be charged/, before);
    expect(mail.decoded).toContain('http://localhost:3000/app/billing');
  });

  it('refuses at dispatch a request that carries a link, or any field its message does not name', async () => {
    const id = randomUUID();
    const carriesALink = [
      { template: 'password-reset', email: 'a@b.test', url: 'http://localhost:3000/reset-password?token=x' },
      { template: 'invitation', invitationId: id, url: 'http://localhost:3000/invitations/accept?token=x' },
      { template: 'export-ready', exportId: id, url: 'http://localhost:3000/files/x?signature=y' },
      { template: 'import-failed', importId: id, reportUrl: 'http://localhost:3000/files/x?signature=y' },
      {
        template: 'trial-ending',
        to: 'a@b.test',
        organizationName: 'A',
        endsAt: new Date().toISOString(),
        billingUrl: 'http://x',
      },
      { template: 'export-ready', exportId: id, token: 'anything' },
    ];
    for (const request of carriesALink) {
      await expect(env.deps.queue.dispatch(MAIL_JOB, request), request.template).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
      });
    }
    await expect(
      env.deps.queue.dispatch(MAIL_JOB, {
        template: 'payment-failed',
        to: 'not-an-email',
        organizationName: 'A',
        attempt: 'first',
        amount: '1',
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
    registry.register(mailJob);
    const system = new QueueSystem({
      config: { ...env.config, keyPrefix: `${env.config.keyPrefix}mailpolicy:` },
      redis: env.deps.redis.get('queue'),
      em: env.deps.em,
      logger: createLogger({ level: 'silent', pretty: false }),
      registry,
      settings: mergeSettings(queueSettingsFor('test')),
      services: { ...env.deps, mailer, rateLimits },
    });
    const policyWorker = new Worker(system, { queues: ['mail'], concurrency: 1, leader: false });
    await policyWorker.start();
    const before = smtp.messages.length;
    try {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await system.dispatch(
          MAIL_JOB,
          {
            template: 'payment-failed',
            to: `p${i}@example.test`,
            organizationName: 'Acme',
            attempt: 'first',
            amount: `$${i}`,
          },
          { organizationId: ORG },
        );
        ids.push(r.id!);
      }
      await smtp.waitFor(before + 2);
      const held = await until(
        async () => {
          const states = await Promise.all(ids.map((id) => system.index.get(id)));
          return states.find((s) => s?.status === 'released' || s?.status === 'delayed');
        },
        'a job held back',
        30_000,
      );
      expect(held).toBeDefined();
      expect(smtp.messages.length - before).toBe(2);
    } finally {
      await policyWorker.stop(1_000);
      await system.close();
      mailer.close();
    }
  });

  it('mail outside organizations is shared out per recipient; an address without an account takes no share', async () => {
    // One message an hour per recipient, two for the whole installation: if the unknown address took a share, the
    // second owner's reset would wait; if mail outside organizations shared one bucket, it would wait too.
    const registry = new JobRegistry();
    const mailer = new SmtpMailer(smtp.url, 'Keel <no-reply@keel.test>');
    const rateLimits = new RateLimits({
      redis: env.deps.redis.get('limits'),
      keyspace: `${env.deps.redis.keyspace('limits')}resetshare:`,
      policies: {
        mail: {
          per: 'organization, or recipient outside organizations',
          rules: [
            { points: 1, duration: 3600 },
            { points: 2, duration: 3600, global: true },
          ],
        },
      },
    });
    registry.register(mailJob);
    const system = new QueueSystem({
      config: { ...env.config, keyPrefix: `${env.config.keyPrefix}resetshare:` },
      redis: env.deps.redis.get('queue'),
      em: env.deps.em,
      logger: createLogger({ level: 'silent', pretty: false }),
      registry,
      settings: mergeSettings(queueSettingsFor('test')),
      services: { ...env.deps, mailer, rateLimits },
    });
    const shareWorker = new Worker(system, { queues: ['mail'], concurrency: 1, leader: false });
    await shareWorker.start();
    try {
      const org = await createOrg(env.deps);
      const before = smtp.messages.length;
      const nobody = await sendMail(
        system,
        { template: 'password-reset', email: 'nobody@example.test' },
        null,
      );
      await until(
        async () => (await system.index.get(nobody.id!))?.status === 'completed',
        'the first job',
        30_000,
      );
      const other = await createOrg(env.deps);
      await sendMail(system, { template: 'password-reset', email: org.owner.email }, null);
      await mailTo(org.owner.email, /Reset your Keel password/, before);
      await sendMail(system, { template: 'password-reset', email: other.owner.email }, null);
      await mailTo(other.owner.email, /Reset your Keel password/, before);
      expect(smtp.messages.slice(before).map((m) => m.to)).toEqual([[org.owner.email], [other.owner.email]]);
    } finally {
      await shareWorker.stop(1_000);
      await system.close();
      mailer.close();
    }
  });
});

describe('links are minted when the mail is sent', () => {
  it('a retried reset mail carries a new link and the one in the refused attempt no longer works', async () => {
    const org = await createOrg(env.deps);
    const anonymous = await callerAs(env.deps, null);
    refuseOnce.add(org.owner.email);
    const refusedBefore = smtp.refused.length;
    await anonymous.passwordReset.request({ email: org.owner.email });
    const delivered = await mailTo(org.owner.email, /Reset your Keel password/);
    const refused = smtp.refused.slice(refusedBefore).find((m) => m.to.includes(org.owner.email))!;
    expect(refused).toBeDefined();
    const [first, second] = [tokenIn(refused), tokenIn(delivered)];
    expect(second).not.toBe(first);
    const live = await withDbScope(env.deps.em, undefined, (em) =>
      em.count(PasswordResetToken, { user: org.owner.id, usedAt: null }),
    );
    expect(live).toBe(1);
    await expect(
      anonymous.passwordReset.complete({ token: first, password: 'a brand new passphrase' }),
    ).rejects.toMatchObject({ cause: { code: 'TOKEN_INVALID' } });
    await expect(
      anonymous.passwordReset.complete({ token: second, password: 'a brand new passphrase' }),
    ).resolves.toEqual({ ok: true });
  }, 60_000);

  it('two reset mails written at the same moment leave exactly one live link', async () => {
    const org = await createOrg(env.deps);
    const letters = await Promise.all(
      [1, 2].map(() =>
        withDbScope(env.deps.em, undefined, (em) => passwordResetLetter(env.deps, em, org.owner.email)),
      ),
    );
    const messages = await Promise.all(letters.map((l) => l!.write()));
    const links = messages.map((m) => (m?.template === 'password-reset' ? m.url : ''));
    const live = await withDbScope(env.deps.em, undefined, (em) =>
      em.find(PasswordResetToken, { user: org.owner.id, usedAt: null }, { populate: ['tokenHash'] }),
    );
    expect(live).toHaveLength(1);
    const hashOf = (link: string) =>
      createHash('sha256').update(new URL(link).searchParams.get('token')!).digest('hex');
    expect(links.map(hashOf)).toContain(live[0]!.tokenHash);
  });

  it('a retried invitation mail carries a new link, and so does one sent again; only the last one works', async () => {
    const org = await createOrg(env.deps, 'Acme Links');
    const owner = await callerAs(env.deps, org.owner);
    const invitee = `links-${randomUUID().slice(0, 8)}@example.test`;
    refuseOnce.add(invitee);
    const refusedBefore = smtp.refused.length;
    const inv = await owner.invitations.create({ email: invitee, role: 'member' });
    const delivered = await mailTo(invitee, /invited you to Acme Links/);
    const refused = smtp.refused.slice(refusedBefore).find((m) => m.to.includes(invitee))!;
    const anonymous = await callerAs(env.deps, null);
    await expect(anonymous.invitations.preview({ token: tokenIn(refused) })).rejects.toMatchObject({
      cause: { code: 'TOKEN_INVALID' },
    });
    expect(await anonymous.invitations.preview({ token: tokenIn(delivered) })).toMatchObject({
      email: invitee,
    });

    // The same request again (what an operator's retry of the job does): a fresh link, the previous one dead.
    const before = smtp.messages.length;
    const again = await sendMail(env.deps.queue, { template: 'invitation', invitationId: inv.id }, org.id);
    await completed(again.id!);
    const resent = await mailTo(invitee, /invited you/, before);
    await expect(anonymous.invitations.preview({ token: tokenIn(delivered) })).rejects.toMatchObject({
      cause: { code: 'TOKEN_INVALID' },
    });
    expect(await anonymous.invitations.preview({ token: tokenIn(resent) })).toMatchObject({ email: invitee });

    // Once withdrawn, a mail job for it sends nothing and mints nothing.
    await owner.invitations.revoke({ id: inv.id });
    const count = smtp.messages.length;
    await completed(
      (await sendMail(env.deps.queue, { template: 'invitation', invitationId: inv.id }, org.id)).id!,
    );
    expect(smtp.messages.length).toBe(count);
  }, 60_000);

  it('a mail job names only its own organization: an invitation id of another one sends nothing', async () => {
    const a = await createOrg(env.deps);
    const b = await createOrg(env.deps);
    const inv = await (
      await callerAs(env.deps, a.owner)
    ).invitations.create({
      email: `cross-${randomUUID().slice(0, 8)}@example.test`,
      role: 'member',
    });
    await mailTo(inv.email, /invited you/);
    const count = smtp.messages.length;
    await completed(
      (await sendMail(env.deps.queue, { template: 'invitation', invitationId: inv.id }, b.id)).id!,
    );
    expect(smtp.messages.length).toBe(count);
  });
});
