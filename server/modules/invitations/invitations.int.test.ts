import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDbScope } from '../../platform/db/context.ts';
import {
  startSmtpCapture,
  type SmtpCapture,
  type CapturedMail,
} from '../../platform/mail/testing/smtp-capture.ts';
import { Worker } from '../../platform/queue/worker.ts';
import { addMember, callerAs, createOrg, PASSWORD } from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { PasswordResetToken } from '../auth/password-reset.entity.ts';
import { Membership } from '../tenancy/membership.entity.ts';

let env: TestEnv;
let smtp: SmtpCapture;
let worker: Worker;

beforeAll(async () => {
  smtp = await startSmtpCapture();
  env = await createTestEnv({ SMTP_URL: smtp.url });
  worker = new Worker(env.deps.queue, { queues: ['mail'], concurrency: 2, leader: false });
  await worker.start();
});
afterAll(async () => {
  await worker?.stop(1_000);
  await env?.close();
  await smtp?.close();
});

async function mailTo(address: string, subject: RegExp): Promise<CapturedMail> {
  const end = Date.now() + 15_000;
  for (;;) {
    const found = smtp.messages.filter((m) => m.to.includes(address) && subject.test(m.subject)).at(-1);
    if (found) return found;
    if (Date.now() > end) throw new Error(`no mail to ${address} matching ${subject}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const tokenIn = (mail: CapturedMail) => /token=([A-Za-z0-9_-]{43})/.exec(mail.decoded)![1]!;

describe('invitations', () => {
  it('an admin invites by email with a role; the invitee accepts by link and joins with that role, once', async () => {
    const org = await createOrg(env.deps, 'Acme Invitations');
    const owner = await callerAs(env.deps, org.owner);
    const invitee = await addMember(env.deps, (await createOrg(env.deps)).id, 'member');
    const inv = await owner.invitations.create({ email: invitee.email.toUpperCase(), role: 'admin' });
    expect(inv).toMatchObject({ email: invitee.email, role: 'admin', acceptedAt: null });
    const mail = await mailTo(invitee.email, /invited you to Acme Invitations/);
    expect(mail.decoded).toContain('http://localhost:3000/invitations/accept?token=');
    const token = tokenIn(mail);

    const anonymous = await callerAs(env.deps, null);
    expect(await anonymous.invitations.preview({ token })).toMatchObject({
      organizationName: 'Acme Invitations',
      email: invitee.email,
      role: 'admin',
      hasAccount: true,
    });
    // Someone else signed in cannot use it.
    const other = await callerAs(env.deps, (await createOrg(env.deps)).owner);
    await expect(other.invitations.accept({ token })).rejects.toMatchObject({ code: 'FORBIDDEN' });

    const caller = await callerAs(env.deps, invitee);
    expect(await caller.invitations.accept({ token })).toEqual({ organizationId: org.id, role: 'admin' });
    const membership = await withDbScope(env.deps.em, org.id, (em) =>
      em.findOne(Membership, { user: invitee.id }),
    );
    expect(membership?.role).toBe('admin');
    await expect(caller.invitations.accept({ token })).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    expect(await owner.invitations.list()).toEqual([]);
  });

  it("a role above the inviter's is refused; re-inviting replaces the old link; revoked links die", async () => {
    const org = await createOrg(env.deps);
    const admin = await callerAs(env.deps, await addMember(env.deps, org.id, 'admin'));
    await expect(
      admin.invitations.create({ email: 'boss@example.test', role: 'owner' }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const member = await callerAs(env.deps, await addMember(env.deps, org.id, 'member'));
    await expect(
      member.invitations.create({ email: 'x@example.test', role: 'member' }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(admin.invitations.create({ email: org.owner.email, role: 'member' })).rejects.toMatchObject({
      code: 'CONFLICT',
    });

    await admin.invitations.create({ email: 'twice@example.test', role: 'member' });
    const first = tokenIn(await mailTo('twice@example.test', /invited you/));
    const second = await admin.invitations.create({ email: 'twice@example.test', role: 'admin' });
    const anonymous = await callerAs(env.deps, null);
    await expect(anonymous.invitations.preview({ token: first })).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
    });
    await admin.invitations.revoke({ id: second.id });
    expect(await admin.invitations.list()).toEqual([]);
    await expect(anonymous.invitations.preview({ token: 'A'.repeat(43) })).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
    });
    await expect(anonymous.invitations.preview({ token: 'short' })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
  });

  it('someone without an account signs up through the link and is signed in, a member', async () => {
    const org = await createOrg(env.deps);
    const owner = await callerAs(env.deps, org.owner);
    await owner.invitations.create({ email: 'newcomer@example.test', role: 'member' });
    const token = tokenIn(await mailTo('newcomer@example.test', /invited you/));
    const sessions: string[] = [];
    const visitor = await callerAs(env.deps, null, {
      cookies: { setSession: (id) => void sessions.push(id), clearSession() {} },
    });
    expect((await visitor.invitations.preview({ token })).hasAccount).toBe(false);
    expect(
      await visitor.invitations.acceptAsNewUser({ token, name: 'New Comer', password: PASSWORD }),
    ).toEqual({
      organizationId: org.id,
      role: 'member',
    });
    expect(sessions).toHaveLength(1);
    const signedIn = await callerAs(env.deps, null, { credentials: { sessionId: sessions[0]! } });
    expect((await signedIn.auth.me()).organization?.id).toBe(org.id);
  });

  it('an invitation of A cannot be listed or revoked from B', async () => {
    const a = await createOrg(env.deps);
    const b = await createOrg(env.deps);
    const inv = await (
      await callerAs(env.deps, a.owner)
    ).invitations.create({ email: 'cross@example.test', role: 'member' });
    const callerB = await callerAs(env.deps, b.owner);
    expect(await callerB.invitations.list()).toEqual([]);
    await expect(callerB.invitations.revoke({ id: inv.id })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('password reset', () => {
  it('emails a single-use link that sets the new password and signs out every session', async () => {
    const org = await createOrg(env.deps);
    const session = await env.deps.sessions.create(org.owner.id);
    const anonymous = await callerAs(env.deps, null);
    expect(await anonymous.passwordReset.request({ email: org.owner.email.toUpperCase() })).toEqual({
      ok: true,
    });
    const mail = await mailTo(org.owner.email, /Reset your Keel password/);
    expect(mail.decoded).toContain('http://localhost:3000/reset-password?token=');
    const token = tokenIn(mail);

    await expect(anonymous.passwordReset.complete({ token, password: 'short' })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    expect(await anonymous.passwordReset.complete({ token, password: 'a brand new passphrase' })).toEqual({
      ok: true,
    });
    expect(await env.deps.sessions.get(session)).toBeNull();
    await expect(
      anonymous.passwordReset.complete({ token, password: 'another new passphrase' }),
    ).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
      cause: { code: 'TOKEN_INVALID' },
    });
    await expect(anonymous.auth.signIn({ email: org.owner.email, password: PASSWORD })).rejects.toMatchObject(
      { code: 'UNAUTHORIZED' },
    );
    await expect(
      anonymous.auth.signIn({ email: org.owner.email, password: 'a brand new passphrase' }),
    ).resolves.toMatchObject({
      user: { id: org.owner.id },
    });
  });

  it('an expired link is refused; a newer request invalidates the older link', async () => {
    const org = await createOrg(env.deps);
    const anonymous = await callerAs(env.deps, null);
    await anonymous.passwordReset.request({ email: org.owner.email });
    const old = tokenIn(await mailTo(org.owner.email, /Reset/));
    const count = smtp.messages.length;
    await anonymous.passwordReset.request({ email: org.owner.email });
    while (smtp.messages.length === count) await new Promise((r) => setTimeout(r, 50));
    const fresh = tokenIn(await mailTo(org.owner.email, /Reset/));
    expect(fresh).not.toBe(old);
    await expect(
      anonymous.passwordReset.complete({ token: old, password: 'whatever passphrase' }),
    ).rejects.toMatchObject({
      cause: { code: 'TOKEN_INVALID' },
    });
    await withDbScope(env.deps.em, undefined, (em) =>
      em.nativeUpdate(PasswordResetToken, { user: org.owner.id }, { expiresAt: new Date(Date.now() - 1000) }),
    );
    await expect(
      anonymous.passwordReset.complete({ token: fresh, password: 'whatever passphrase' }),
    ).rejects.toMatchObject({
      cause: { code: 'TOKEN_EXPIRED' },
    });
  });

  it('answers the same for unknown emails, sends nothing, and limits requests per email', async () => {
    const anonymous = await callerAs(env.deps, null);
    const before = smtp.messages.length;
    expect(await anonymous.passwordReset.request({ email: 'nobody@example.test' })).toEqual({ ok: true });
    await anonymous.passwordReset.request({ email: 'nobody@example.test' });
    await anonymous.passwordReset.request({ email: 'nobody@example.test' });
    await expect(anonymous.passwordReset.request({ email: 'NOBODY@example.test' })).rejects.toMatchObject({
      code: 'TOO_MANY_REQUESTS',
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(smtp.messages.slice(before).filter((m) => m.to.includes('nobody@example.test'))).toEqual([]);
  });
});
