import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type KeelApp } from '../../app.ts';
import { withDbScope } from '../../platform/db/context.ts';
import {
  startSmtpCapture,
  type CapturedMail,
  type SmtpCapture,
} from '../../platform/mail/testing/smtp-capture.ts';
import { Worker } from '../../platform/queue/worker.ts';
import { callerAs, createOrg, type TestOrg } from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { Organization } from '../tenancy/organization.entity.ts';
import { PendingRegistration } from './pending-registration.entity.ts';
import { User } from './user.entity.ts';
import { until } from '../../test/until.ts';

// Issue 17, finding 11: registration does not tell who has an account. `auth.register` answers the same for every
// address; the mail job (a real worker, a real SMTP server) writes a confirmation link or an "account exists"
// message; the link creates the account, signs in, and works once.

let env: TestEnv;
let smtp: SmtpCapture;
let worker: Worker;
let app: KeelApp;
let org: TestOrg;
/** Everything the processes logged (at trace level). */
const lines: string[] = [];
/** Recipients whose next message the SMTP server refuses (451): that mail job fails once and is retried. */
const refuseOnce = new Set<string>();

beforeAll(async () => {
  smtp = await startSmtpCapture({ refuse: (m) => m.to.some((to) => refuseOnce.delete(to)) });
  const logStream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  env = await createTestEnv({ SMTP_URL: smtp.url, LOG_LEVEL: 'trace' }, { logStream });
  worker = new Worker(env.deps.queue, { queues: ['mail'], concurrency: 2 });
  await worker.start();
  app = await buildApp(env.deps);
  org = await createOrg(env.deps, 'Registered Co');
});
afterAll(async () => {
  await app?.close();
  await worker?.stop(1_000);
  await env?.close();
  await smtp?.close();
});

const unique = (tag: string) => `${tag}-${randomBytes(4).toString('hex')}@example.test`;

const mailTo = (address: string, subject: RegExp) =>
  until(
    () => smtp.messages.find((m) => m.to.includes(address) && subject.test(m.subject)),
    `mail to ${address}`,
    30_000,
  );
const LINK = /http:\/\/localhost:3000\/register\/confirm\?token=([A-Za-z0-9_-]{43})/;
const tokenIn = (mail: CapturedMail) => LINK.exec(mail.decoded)![1]!;

/** One tRPC mutation over HTTP, as the web app sends it. */
const mutation = (path: string, input: unknown) =>
  app.inject({
    method: 'POST',
    url: `/trpc/${path}`,
    headers: { 'content-type': 'application/json' },
    payload: { json: input },
  });
const appCodeOf = (body: string) =>
  (JSON.parse(body) as { error?: { json?: { data?: { appCode?: string } } } }).error?.json?.data?.appCode;

const form = (email: string, organizationName = 'Fresh Start') => ({
  email,
  password: 'a long enough password',
  name: 'Nora New',
  organizationName,
});
const usersWith = (email: string) => withDbScope(env.deps.em, undefined, (em) => em.count(User, { email }));

describe('auth.register', () => {
  it('answers a new and an existing address the same, creates no user, and the mails say which', async () => {
    const fresh = unique('fresh');
    const newAnswer = await mutation('auth.register', form(fresh.toUpperCase()));
    const takenAnswer = await mutation('auth.register', form(org.owner.email.toUpperCase(), 'Impostor Inc'));
    for (const res of [newAnswer, takenAnswer]) {
      expect(res.statusCode, res.body).toBe(200);
      expect(res.headers['set-cookie']).toBeUndefined();
    }
    expect(takenAnswer.body).toBe(newAnswer.body);
    expect(JSON.parse(newAnswer.body)).toEqual({
      result: { data: { json: { status: 'check-your-email' } } },
    });
    expect(await usersWith(fresh)).toBe(0);

    // The new address: a confirmation link, nothing else.
    const confirm = await mailTo(fresh, /^Confirm your email/);
    expect(confirm.decoded).toMatch(LINK);
    expect(confirm.decoded).toContain('Hello Nora New');
    expect(confirm.decoded).toContain('Fresh Start');
    expect(confirm.decoded).toContain('The link works once, for 24 hours');
    // The existing one: how to sign in or reset, and no link that could create anything.
    const exists = await mailTo(org.owner.email, /^You already have a Keel account/);
    expect(exists.decoded).toContain('http://localhost:3000/sign-in');
    expect(exists.decoded).toContain('http://localhost:3000/forgot-password');
    expect(exists.decoded).not.toContain('token=');
    expect(exists.decoded).not.toContain('Impostor Inc');
    expect(
      await withDbScope(env.deps.em, undefined, (em) => em.count(Organization, { name: 'Impostor Inc' })),
    ).toBe(0);

    // Both mail jobs carry the same kind of request: one template and an id, whatever the address.
    const { items } = await env.deps.queue.index.list('recent', {
      offset: 0,
      limit: 100,
      tag: 'mail:registration',
    });
    const payloads = items.map((j) => JSON.parse(j.payload ?? 'null') as Record<string, unknown>);
    expect(payloads.length).toBeGreaterThanOrEqual(2);
    for (const p of payloads) expect(Object.keys(p).sort()).toEqual(['registrationId', 'template']);
    expect(new Set(payloads.map((p) => p.template))).toEqual(new Set(['registration']));
  });

  it('the link creates exactly one account, signs in with a session cookie, and works once', async () => {
    const email = unique('confirm');
    await mutation('auth.register', form(email));
    const token = tokenIn(await mailTo(email, /^Confirm your email/));

    const confirmed = await mutation('auth.confirmRegistration', { token });
    expect(confirmed.statusCode, confirmed.body).toBe(200);
    const me = (JSON.parse(confirmed.body) as { result: { data: { json: { user: { id: string } } } } }).result
      .data.json;
    const cookie = [confirmed.headers['set-cookie']]
      .flat()
      .find((c) => c?.startsWith('keel_session='))!
      .split(';')[0]!;
    const asMe = await app.inject({ method: 'GET', url: '/trpc/auth.me', headers: { cookie } });
    expect(asMe.statusCode).toBe(200);
    expect(asMe.body).toContain(me.user.id);
    expect(await usersWith(email)).toBe(1);
    expect(await withDbScope(env.deps.em, undefined, (em) => em.count(PendingRegistration, { email }))).toBe(
      0,
    );

    const replayed = await mutation('auth.confirmRegistration', { token });
    expect(replayed.statusCode).toBe(401);
    expect(appCodeOf(replayed.body)).toBe('TOKEN_INVALID');
    expect(await usersWith(email)).toBe(1);
  });

  it('an expired link is TOKEN_EXPIRED and creates nothing; an unknown one is TOKEN_INVALID', async () => {
    const email = unique('late');
    await mutation('auth.register', form(email));
    const token = tokenIn(await mailTo(email, /^Confirm your email/));
    await withDbScope(env.deps.em, undefined, (em) =>
      em.nativeUpdate(PendingRegistration, { email }, { expiresAt: new Date(Date.now() - 1_000) }),
    );
    const expired = await mutation('auth.confirmRegistration', { token });
    expect(expired.statusCode).toBe(401);
    expect(appCodeOf(expired.body)).toBe('TOKEN_EXPIRED');
    expect(await usersWith(email)).toBe(0);

    const unknown = await mutation('auth.confirmRegistration', {
      token: randomBytes(32).toString('base64url'),
    });
    expect(unknown.statusCode).toBe(401);
    expect(appCodeOf(unknown.body)).toBe('TOKEN_INVALID');
  });

  it('a retried confirmation mail carries a new link, and the one in the refused attempt no longer works', async () => {
    const email = unique('retry');
    refuseOnce.add(email);
    const refusedBefore = smtp.refused.length;
    await mutation('auth.register', form(email));
    const delivered = await mailTo(email, /^Confirm your email/);
    const refused = smtp.refused.slice(refusedBefore).find((m) => m.to.includes(email))!;
    expect(refused).toBeDefined();
    expect(tokenIn(refused)).not.toBe(tokenIn(delivered));
    const stale = await mutation('auth.confirmRegistration', { token: tokenIn(refused) });
    expect(appCodeOf(stale.body)).toBe('TOKEN_INVALID');
    expect((await mutation('auth.confirmRegistration', { token: tokenIn(delivered) })).statusCode).toBe(200);
  }, 60_000);

  it('accepting an invitation as a new user still creates the account at once; a pending registration of that address is then EMAIL_TAKEN', async () => {
    const invitee = unique('invitee');
    await mutation('auth.register', form(invitee));
    const pendingToken = tokenIn(await mailTo(invitee, /^Confirm your email/));

    const owner = await callerAs(env.deps, org.owner);
    await owner.invitations.create({ email: invitee, role: 'member' });
    const invitation = /token=([A-Za-z0-9_-]{43})/.exec((await mailTo(invitee, /invited you/)).decoded)![1]!;
    const joined = await (
      await callerAs(env.deps, null)
    ).invitations.acceptAsNewUser({
      token: invitation,
      name: 'Ivy Invitee',
      password: 'a long enough password',
    });
    expect(joined).toMatchObject({ organizationId: org.id, role: 'member' });
    expect(await usersWith(invitee)).toBe(1);

    const late = await mutation('auth.confirmRegistration', { token: pendingToken });
    expect(late.statusCode).toBe(409);
    expect(appCodeOf(late.body)).toBe('EMAIL_TAKEN');
    expect(await usersWith(invitee)).toBe(1);
  }, 60_000);

  it('no confirmation token is in a job payload, the job index, Redis or a log line', async () => {
    const email = unique('secret');
    await mutation('auth.register', form(email));
    const token = tokenIn(await mailTo(email, /^Confirm your email/));
    expect((await mutation('auth.confirmRegistration', { token })).statusCode).toBe(200);

    const redis = env.deps.redis.get('queue');
    const stored: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${env.config.keyPrefix}*`, 'COUNT', 500);
      cursor = next;
      for (const key of keys) {
        const type = await redis.type(key);
        if (type === 'string') stored.push((await redis.get(key)) ?? '');
        else if (type === 'hash') stored.push(JSON.stringify(await redis.hgetall(key)));
        else if (type === 'list') stored.push(JSON.stringify(await redis.lrange(key, 0, -1)));
        else if (type === 'set') stored.push(JSON.stringify(await redis.smembers(key)));
        else if (type === 'zset') stored.push(JSON.stringify(await redis.zrange(key, '0', '-1')));
        else if (type === 'stream') stored.push(JSON.stringify(await redis.xrange(key, '-', '+')));
      }
    } while (cursor !== '0');
    // What was scanned holds what it should: the registration's mail job and the requests' log lines.
    expect(stored.some((s) => s.includes('registrationId'))).toBe(true);
    expect(lines.some((l) => l.includes('auth.confirmRegistration'))).toBe(true);
    expect(stored.filter((s) => s.includes(token))).toEqual([]);
    expect(lines.filter((l) => l.includes(token))).toEqual([]);
  });
});
