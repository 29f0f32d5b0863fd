import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppErrorCode } from '../../../shared/errors.ts';
import { withDbScope } from '../../platform/db/context.ts';
import {
  addMember,
  createOrg,
  createStaff,
  PASSWORD,
  tokenFor,
  type TestUser,
} from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { createInnerContext } from '../../trpc/context.ts';
import { createCallerFactory } from '../../trpc/init.ts';
import { appRouter } from '../../trpc/router.ts';
import { ApiToken } from '../auth/api-token.entity.ts';
import { PasswordResetToken } from '../auth/password-reset.entity.ts';
import { User } from '../auth/user.entity.ts';

// Two Keel instances (A and B) sharing PostgreSQL, Redis and the key prefix, as two API servers behind a load
// balancer. For each change that removes access: B has the caller's principal (and membership) cached, the change is
// made on A, and B's very next request is refused.

const prefix = `keel:test:${randomBytes(4).toString('hex')}:`;
let A: TestEnv;
let B: TestEnv;
const createCaller = createCallerFactory(appRouter);

beforeAll(async () => {
  [A, B] = await Promise.all([createTestEnv({ KEY_PREFIX: prefix }), createTestEnv({ KEY_PREFIX: prefix })]);
}, 60_000);
afterAll(async () => {
  await A?.close();
  await B?.close();
});

type Credentials = { bearer?: string; sessionId?: string };
const on = (env: TestEnv, credentials: Credentials, organizationHeader: string | null = null) =>
  createCaller(createInnerContext(env.deps, { credentials, organizationHeader }));

async function refusal(p: Promise<unknown>): Promise<AppErrorCode | 'accepted'> {
  return p.then(
    () => 'accepted' as const,
    (err: { cause?: { code?: AppErrorCode } }) => err.cause?.code ?? 'accepted',
  );
}

/** Makes B cache the caller's principal and membership, and proves the second call was served from B's memory. */
async function cachedOnB(credentials: Credentials): Promise<void> {
  await on(B, credentials).organization.current();
  const before = B.deps.principals.stats().hits;
  await on(B, credentials).organization.current();
  expect(B.deps.principals.stats().hits).toBeGreaterThanOrEqual(before + 2);
}

async function session(user: TestUser): Promise<Credentials> {
  return { sessionId: await A.deps.sessions.create(user.id) };
}

describe('a change made on one instance refuses the next request on the other', () => {
  it('token revoked', async () => {
    const org = await createOrg(A.deps);
    const bearer = await tokenFor(A.deps, org.id, org.owner);
    await cachedOnB({ bearer });
    await on(A, { bearer }).tokens.revokeCurrent();
    expect(await refusal(on(B, { bearer }).organization.current())).toBe('TOKEN_REVOKED');
  });

  it('every token of a user revoked at once (a bulk update around the unit of work)', async () => {
    const org = await createOrg(A.deps);
    const bearer = await tokenFor(A.deps, org.id, org.owner);
    await cachedOnB({ bearer });
    await on(A, await session(org.owner)).tokens.revokeAll();
    expect(await refusal(on(B, { bearer }).organization.current())).toBe('TOKEN_REVOKED');
  });

  it('token expired: the expiry is checked on every hit, never cached past', async () => {
    const org = await createOrg(A.deps);
    const bearer = await tokenFor(A.deps, org.id, org.owner);
    const expiresAt = new Date(Date.now() + 1_500);
    // Written without announcing: only the expiry itself may end it.
    await withDbScope(A.deps.em, org.id, (em) =>
      em.nativeUpdate(ApiToken, { organization: org.id }, { expiresAt }),
    );
    await cachedOnB({ bearer });
    await sleep(expiresAt.getTime() - Date.now() + 50);
    expect(await refusal(on(B, { bearer }).organization.current())).toBe('TOKEN_EXPIRED');
  });

  it('session ended (sign-out)', async () => {
    const org = await createOrg(A.deps);
    const creds = await session(org.owner);
    await cachedOnB(creds);
    await on(A, creds).auth.signOut();
    expect(await refusal(on(B, creds).organization.current())).toBe('SESSION_EXPIRED');
  });

  it('password reset: sessions and tokens', async () => {
    const org = await createOrg(A.deps);
    const creds = await session(org.owner);
    const bearer = await tokenFor(A.deps, org.id, org.owner);
    await cachedOnB(creds);
    await cachedOnB({ bearer });
    const token = randomBytes(32).toString('base64url');
    await withDbScope(A.deps.em, undefined, async (em) => {
      em.create(PasswordResetToken, {
        user: org.owner.id,
        tokenHash: createHash('sha256').update(token).digest('hex'),
        expiresAt: new Date(Date.now() + 60_000),
      });
      await em.flush();
    });
    await on(A, {}).passwordReset.complete({ token, password: `${PASSWORD}!` });
    expect(await refusal(on(B, creds).organization.current())).toBe('SESSION_EXPIRED');
    expect(await refusal(on(B, { bearer }).organization.current())).toBe('TOKEN_REVOKED');
  });

  it('membership removed', async () => {
    const org = await createOrg(A.deps);
    const member = await addMember(A.deps, org.id, 'member');
    const bearer = await tokenFor(A.deps, org.id, member, ['read'], 'member');
    const creds = await session(member);
    await cachedOnB(creds);
    await cachedOnB({ bearer });
    await on(A, await session(org.owner)).organization.removeMember({ userId: member.id });
    // The session's user is no longer a member (nor is it their current organization); the token was revoked with
    // the membership.
    expect(await refusal(on(B, creds, org.id).organization.current())).toBe('NOT_A_MEMBER');
    expect(await refusal(on(B, creds).organization.current())).toBe('TENANT_REQUIRED');
    expect(await refusal(on(B, { bearer }).organization.current())).toBe('TOKEN_REVOKED');
  });

  it('role changed', async () => {
    const org = await createOrg(A.deps);
    const admin = await addMember(A.deps, org.id, 'admin');
    const creds = await session(admin);
    await cachedOnB(creds);
    await on(B, creds).organization.update({ settings: { locale: 'fr' } });
    await cachedOnB(creds);
    await on(A, await session(org.owner)).organization.changeRole({ userId: admin.id, role: 'member' });
    expect(await refusal(on(B, creds).organization.update({ settings: { locale: 'de' } }))).toBe(
      'ABILITY_MISSING',
    );
  });

  it('organization suspended', async () => {
    const org = await createOrg(A.deps);
    const creds = await session(org.owner);
    const staff = await createStaff(A.deps);
    await cachedOnB(creds);
    await on(A, await session(staff)).ops.tenants.suspend({ id: org.id, reason: 'test' });
    expect(await refusal(on(B, creds).organization.current())).toBe('TENANT_SUSPENDED');
  });

  it('staff flag removed', async () => {
    const staff = await createStaff(A.deps);
    const creds = await session(staff);
    await on(B, creds).ops.overview();
    const before = B.deps.principals.stats().hits;
    await on(B, creds).ops.overview();
    expect(B.deps.principals.stats().hits).toBe(before + 1);
    await withDbScope(A.deps.em, undefined, async (em) => {
      (await em.findOneOrFail(User, staff.id)).staff = false;
      await em.flush();
    });
    expect(await refusal(on(B, creds).ops.overview())).toBe('STAFF_ONLY');
  });

  it('user deleted', async () => {
    const org = await createOrg(A.deps);
    const member = await addMember(A.deps, org.id, 'member');
    const creds = await session(member);
    await cachedOnB(creds);
    await withDbScope(A.deps.em, undefined, async (em) => {
      em.remove(await em.findOneOrFail(User, member.id));
      await em.flush();
    });
    expect(await refusal(on(B, creds).organization.current())).toBe('SESSION_EXPIRED');
  });

  it('every invalidation was acknowledged by the other instance', () => {
    expect(A.deps.principals.stats().invalidations).toMatchObject({ unacknowledged: 0, failed: 0 });
    expect(B.deps.principals.stats().invalidations.received).toBeGreaterThan(0);
  });
});

describe('while an instance does not hear the bus', () => {
  it('it serves nothing from memory, so a revocation it missed still refuses the next request', async () => {
    const org = await createOrg(A.deps);
    const bearer = await tokenFor(A.deps, org.id, org.owner);
    const C = await createTestEnv({ KEY_PREFIX: prefix });
    try {
      await on(C, { bearer }).organization.current();
      // C's subscriber connection goes away: whatever is published now never reaches it.
      C.deps.redis.get('pubsub').disconnect();
      await on(A, { bearer }).tokens.revokeCurrent();
      const bypasses = C.deps.principals.stats().bypasses;
      expect(await refusal(on(C, { bearer }).organization.current())).toBe('TOKEN_REVOKED');
      expect(C.deps.principals.stats().bypasses).toBeGreaterThan(bypasses);
      expect(C.deps.principals.stats().entries).toBe(0);
    } finally {
      await C.close();
    }
  });
});
