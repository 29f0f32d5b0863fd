import { createHash, randomBytes } from 'node:crypto';
import { TRPCClientError } from '@trpc/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDbScope } from '../../platform/db/context.ts';
import { addMember, callerAs, callerWithToken, createOrg, tokenFor } from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import {
  clientOf,
  collect,
  startProcess,
  waitFor,
  type ServerProcess,
  type TestClient,
} from '../realtime/testing/cluster.ts';
import { Membership } from '../tenancy/membership.entity.ts';
import { PasswordResetToken } from './password-reset.entity.ts';

// Issue 17, finding 5: what a password reset ends.

let env: TestEnv;
let A: ServerProcess;
let B: ServerProcess;
const clients: TestClient[] = [];

beforeAll(async () => {
  env = await createTestEnv();
  [A, B] = await Promise.all([startProcess(env.config), startProcess(env.config)]);
}, 120_000);
afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await Promise.allSettled([A?.stop(), B?.stop()]);
  await env?.close();
});

const appCode = (err: unknown) =>
  err instanceof TRPCClientError ? (err.data as { appCode?: string } | undefined)?.appCode : undefined;

/** A reset link for the user, as the mail job mints it (only its hash is stored). */
async function resetLink(userId: string): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  await withDbScope(env.deps.em, undefined, async (em) => {
    em.create(PasswordResetToken, {
      user: userId,
      tokenHash: createHash('sha256').update(token).digest('hex'),
      expiresAt: new Date(Date.now() + 60_000),
    });
    await em.flush();
  });
  return token;
}

/** Completes a reset over HTTP on one process, as the reset page does. */
async function completeOn(on: ServerProcess, input: Record<string, unknown>) {
  const res = await fetch(`${on.url}/trpc/passwordReset.complete`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ json: input }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
}

describe('what a password reset ends', () => {
  it('every session, every API token in every organization, every other reset link, and their live subscriptions on other processes', async () => {
    const first = await createOrg(env.deps);
    const second = await createOrg(env.deps);
    const user = first.owner;
    await withDbScope(env.deps.em, second.id, async (em) => {
      em.create(Membership, { organization: second.id, user: user.id, role: 'member' });
      await em.flush();
    });
    const inFirst = await tokenFor(env.deps, first.id, user, ['read']);
    const inSecond = await tokenFor(env.deps, second.id, user, ['read'], 'member');
    const session = await env.deps.sessions.create(user.id);
    const live = [inFirst, inSecond].map((token) => {
      const c = clientOf(A.url, { auth: { token }, wsUrl: A.wsUrl });
      clients.push(c);
      return collect((h) => c.trpc.org.events.subscribe(undefined, h));
    });
    await waitFor(() => live.every((s) => s.started), 'subscriptions start');
    const [used, other] = [await resetLink(user.id), await resetLink(user.id)];

    // The reset goes through process B; the subscriptions live on A.
    await completeOn(B, { token: used, password: 'a brand new passphrase' });

    for (const s of live) expect(appCode(await s.untilError())).toBe('TOKEN_REVOKED');
    for (const token of [inFirst, inSecond]) {
      await expect(callerWithToken(env.deps, token).auth.me()).rejects.toMatchObject({
        cause: { code: 'TOKEN_REVOKED' },
      });
    }
    expect(await env.deps.sessions.get(session)).toBeNull();
    const anonymous = await callerAs(env.deps, null);
    await expect(
      anonymous.passwordReset.complete({ token: other, password: 'another passphrase here' }),
    ).rejects.toMatchObject({ cause: { code: 'TOKEN_INVALID' } });
    await expect(
      anonymous.auth.signIn({ email: user.email, password: 'a brand new passphrase' }),
    ).resolves.toMatchObject({ user: { id: user.id } });
  });

  it('keeps the API tokens only when the reset explicitly asks to (keepApiTokens); sessions end regardless', async () => {
    const org = await createOrg(env.deps);
    const user = await addMember(env.deps, org.id, 'member');
    const token = await tokenFor(env.deps, org.id, user, ['read'], 'member');
    const session = await env.deps.sessions.create(user.id);
    await completeOn(B, {
      token: await resetLink(user.id),
      password: 'a brand new passphrase',
      keepApiTokens: true,
    });
    expect(await env.deps.sessions.get(session)).toBeNull();
    await expect(callerWithToken(env.deps, token).auth.me()).resolves.toMatchObject({
      user: { id: user.id },
    });
    // Asking with the default (no keepApiTokens) ends it.
    await completeOn(B, { token: await resetLink(user.id), password: 'yet another passphrase' });
    await expect(callerWithToken(env.deps, token).auth.me()).rejects.toMatchObject({
      cause: { code: 'TOKEN_REVOKED' },
    });
  });
});
