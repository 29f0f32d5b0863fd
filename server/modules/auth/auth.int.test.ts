import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDbScope } from '../../platform/db/context.ts';
import {
  addMember,
  callerAs,
  callerWithToken,
  createOrg,
  PASSWORD,
  tokenFor,
  type TestOrg,
  type TestUser,
} from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import type { CookieJar } from '../../trpc/context.ts';
import { ActivityLog } from '../activity/activity.entity.ts';
import { Membership } from '../tenancy/membership.entity.ts';
import { Organization } from '../tenancy/organization.entity.ts';
import { slugify } from '../tenancy/tenancy.service.ts';
import { ApiToken } from './api-token.entity.ts';
import { confirmationToken, registerAndConfirm } from './testing/registration.ts';
import { User } from './user.entity.ts';

let env: TestEnv;
let org: TestOrg;

beforeAll(async () => {
  env = await createTestEnv();
  org = await createOrg(env.deps, 'Auth Co');
});
afterAll(() => env.close());

const uniqueEmail = (tag: string) => `${tag}-${randomBytes(4).toString('hex')}@example.test`;
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Records the cookie writes a procedure makes, as the HTTP adapter would apply them. */
function recordingJar() {
  const jar = { session: null as string | null, cleared: false };
  const cookies: CookieJar = {
    setSession: (id) => void (jar.session = id),
    clearSession: () => void (jar.cleared = true),
  };
  return { jar, cookies };
}

const scoped = <T>(orgId: string | undefined, fn: Parameters<typeof withDbScope<T>>[2]) =>
  withDbScope(env.deps.em, orgId, fn);

describe('register and confirm', () => {
  it('creates nothing until the link is used; then the user, their organization and the owner membership, signed in', async () => {
    const email = uniqueEmail('new');
    const input = {
      email: email.toUpperCase(),
      password: 'a long enough password',
      name: 'Ada Lovelace',
      organizationName: 'Analytical Engines',
    };
    await expect((await callerAs(env.deps, null)).auth.register(input)).resolves.toEqual({
      status: 'check-your-email',
    });
    expect(await scoped(undefined, (em) => em.count(User, { email }))).toBe(0);
    expect(await scoped(undefined, (em) => em.count(Organization, { name: 'Analytical Engines' }))).toBe(0);

    const { jar, cookies } = recordingJar();
    const token = await confirmationToken(env.deps, email);
    const me = await (
      await callerAs(env.deps, null, { cookies })
    ).auth.confirmRegistration({ token: token! });
    expect(me.user).toMatchObject({ email, name: 'Ada Lovelace', staff: false });
    expect(me.organization).toMatchObject({
      name: 'Analytical Engines',
      role: 'owner',
      tier: 'free',
      active: true,
    });
    expect(me.organizations).toHaveLength(1);
    expect(me.abilities).toContain('billing:manage');
    expect(me.via).toBe('session');

    const orgId = me.organization!.id;
    const user = await scoped(undefined, (em) =>
      em.findOneOrFail(User, { email }, { populate: ['passwordHash', 'currentOrganization'] }),
    );
    expect(user.passwordHash).toMatch(/^\$argon2id\$/);
    expect(user.passwordHash).not.toContain('a long enough password');
    expect(user.currentOrganization?.id).toBe(orgId);
    const organization = await scoped(undefined, (em) => em.findOneOrFail(Organization, orgId));
    expect(organization).toMatchObject({ slug: 'analytical-engines', billingEmail: email });
    const memberships = await scoped(orgId, (em) => em.find(Membership, {}));
    expect(memberships.map((m) => [m.user.id, m.role])).toEqual([[user.id, 'owner']]);
    expect(await scoped(orgId, (em) => em.count(ActivityLog, { action: 'organization.created' }))).toBe(1);

    // The session it set is live, and the password chosen in the form signs in.
    expect(jar.session).not.toBeNull();
    expect(await env.deps.sessions.get(jar.session!)).toMatchObject({ userId: user.id });
    await expect(
      (await callerAs(env.deps, null)).auth.signIn({ email, password: 'a long enough password' }),
    ).resolves.toMatchObject({ user: { id: user.id } });
  });

  it('a second organization with the same name gets its own slug', async () => {
    const register = () =>
      registerAndConfirm(env.deps, {
        email: uniqueEmail('twin'),
        password: 'a long enough password',
        name: 'Twin',
        organizationName: 'Same Name Ltd',
      });
    const [first, second] = [await register(), await register()];
    expect(first.organization!.slug).toBe('same-name-ltd');
    expect(second.organization!.slug).toMatch(/^same-name-ltd-[0-9a-f]{6}$/);
  });

  it('a taken email (in any case) gets the same answer as a new one, and nothing is created for it', async () => {
    const usersBefore = await scoped(undefined, (em) => em.count(User, {}));
    const orgsBefore = await scoped(undefined, (em) => em.count(Organization, {}));
    const answer = await (
      await callerAs(env.deps, null)
    ).auth.register({
      email: org.owner.email.toUpperCase(),
      password: 'a long enough password',
      name: 'Impostor',
      organizationName: 'Dup Two',
    });
    expect(answer).toEqual({ status: 'check-your-email' });
    // The mail job writes "you already have an account", never a link.
    expect(await confirmationToken(env.deps, org.owner.email)).toBeNull();
    expect(await scoped(undefined, (em) => em.count(User, {}))).toBe(usersBefore);
    expect(await scoped(undefined, (em) => em.count(Organization, {}))).toBe(orgsBefore);
  });

  it('two links of one address used at the same moment: one account, the other link refused with no stray organization', async () => {
    const email = uniqueEmail('race');
    const name = `Race ${randomBytes(3).toString('hex')}`;
    const input = { email, password: 'a long enough password', name: 'Racer', organizationName: name };
    const tokens: string[] = [];
    for (let i = 0; i < 2; i++) {
      await (await callerAs(env.deps, null)).auth.register(input);
      tokens.push((await confirmationToken(env.deps, email))!);
    }
    const results = await Promise.allSettled(
      tokens.map(async (token) => (await callerAs(env.deps, null)).auth.confirmRegistration({ token })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected');
    // Whichever the race gave: the other link was claimed with it, or the address was taken at the insert.
    expect(['TOKEN_INVALID', 'EMAIL_TAKEN']).toContain(
      (rejected?.reason as { cause?: { code?: string } }).cause?.code,
    );
    expect(await scoped(undefined, (em) => em.count(User, { email }))).toBe(1);
    expect(await scoped(undefined, (em) => em.count(Organization, { name }))).toBe(1);
  });

  it('organizations confirmed at the same moment under one name all succeed with distinct slugs', async () => {
    const name = `Crowded ${randomBytes(3).toString('hex')}`;
    const results = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        registerAndConfirm(env.deps, {
          email: uniqueEmail(`crowd${i}`),
          password: 'a long enough password',
          name: 'Crowd',
          organizationName: name,
        }),
      ),
    );
    const slugs = results.map((me) => me.organization!.slug);
    expect(new Set(slugs).size).toBe(4);
    expect(await scoped(undefined, (em) => em.count(Organization, { name }))).toBe(4);
  });

  it('a slug taken between the free-slug check and the insert is retried with another', async () => {
    const name = `Held ${randomBytes(3).toString('hex')}`;
    const slug = slugify(name);
    const email = uniqueEmail('held');
    await (
      await callerAs(env.deps, null)
    ).auth.register({
      email,
      password: 'a long enough password',
      name: 'Late',
      organizationName: name,
    });
    const token = (await confirmationToken(env.deps, email))!;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let inserted!: () => void;
    const slugInserted = new Promise<void>((resolve) => (inserted = resolve));
    // Another transaction has written the slug but not committed: the confirmation's check cannot see it, and
    // its insert waits on the unique index until that transaction commits.
    const holder = scoped(undefined, (em) =>
      em.transactional(async (tx) => {
        tx.create(Organization, { name: 'Holder', slug, settings: {} });
        await tx.flush();
        inserted();
        await held;
      }),
    );
    await slugInserted;
    const registering = (await callerAs(env.deps, null)).auth.confirmRegistration({ token });
    const waitingOnLock = async () => {
      const rows = await env.deps.em
        .fork()
        .getConnection()
        .execute<{ n: number }[]>(
          `select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
        );
      return (rows[0]?.n ?? 0) > 0;
    };
    let blocked = false;
    for (let i = 0; i < 200 && !blocked; i++) {
      blocked = await waitingOnLock();
      if (!blocked) await new Promise((r) => setTimeout(r, 25));
    }
    expect(blocked).toBe(true);
    release();
    await holder;
    const me = await registering;
    expect(me.organization!.slug).toMatch(new RegExp(`^${slug}-[0-9a-f]{6}$`));
  });

  it('a weak password and a malformed email are field errors', async () => {
    const caller = await callerAs(env.deps, null);
    await expect(
      caller.auth.register({ email: 'nope', password: 'short', name: 'X', organizationName: 'Y' }),
    ).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });
});

describe('sign in and out', () => {
  it('the right password signs in and sets a session', async () => {
    const { jar, cookies } = recordingJar();
    const caller = await callerAs(env.deps, null, { cookies });
    const me = await caller.auth.signIn({ email: org.owner.email.toUpperCase(), password: PASSWORD });
    expect(me.user.id).toBe(org.owner.id);
    expect(me.organization?.id).toBe(org.id);
    const session = await callerAs(env.deps, null, { credentials: { sessionId: jar.session } });
    expect((await session.auth.me()).user.email).toBe(org.owner.email);
  });

  it('a wrong password and an unknown email fail the same way: INVALID_CREDENTIALS', async () => {
    const caller = await callerAs(env.deps, null);
    const wrong = await caller.auth
      .signIn({ email: org.owner.email, password: 'wrong password' })
      .catch((e) => e);
    const unknown = await caller.auth
      .signIn({ email: uniqueEmail('ghost'), password: PASSWORD })
      .catch((e) => e);
    for (const err of [wrong, unknown]) {
      expect(err).toMatchObject({ code: 'UNAUTHORIZED', cause: { code: 'INVALID_CREDENTIALS' } });
    }
    expect(wrong.message).toBe(unknown.message);
  });

  it('sign out destroys the session and clears the cookie; the session is refused afterwards', async () => {
    const sessionId = await env.deps.sessions.create(org.owner.id);
    const { jar, cookies } = recordingJar();
    const caller = await callerAs(env.deps, null, { credentials: { sessionId }, cookies });
    expect((await caller.auth.me()).user.id).toBe(org.owner.id);
    await caller.auth.signOut();
    expect(jar.cleared).toBe(true);
    expect(await env.deps.sessions.get(sessionId)).toBeNull();
    await expect(caller.auth.me()).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
      cause: { code: 'SESSION_EXPIRED' },
    });
  });

  it('a made-up session id is refused', async () => {
    const caller = await callerAs(env.deps, null, { credentials: { sessionId: 'A'.repeat(43) } });
    await expect(caller.auth.me()).rejects.toMatchObject({ cause: { code: 'SESSION_EXPIRED' } });
  });
});

describe('API tokens', () => {
  it('create shows the secret once and stores only its SHA-256', async () => {
    const caller = await callerAs(env.deps, org.owner);
    const { token, secret } = await caller.tokens.create({
      name: 'CI deploys',
      abilities: ['read', 'write'],
    });
    expect(secret).toMatch(/^keel_[A-Za-z0-9_-]{43}$/);
    expect(token).toMatchObject({
      name: 'CI deploys',
      abilities: ['read', 'write'],
      revokedAt: null,
      expiresAt: null,
    });

    const rows = await scoped(org.id, (em) =>
      em
        .getConnection()
        .execute<Record<string, unknown>[]>('select * from api_tokens where id = ?', [token.id]),
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.token_hash).toBe(sha256(secret));
    expect(JSON.stringify(rows[0])).not.toContain(secret);
    expect(JSON.stringify(rows[0])).not.toContain(secret.slice(5));

    // Listing never shows the secret or its hash again.
    const listed = (await caller.tokens.list()).find((t) => t.id === token.id)!;
    expect(Object.keys(listed).sort()).toEqual(
      ['abilities', 'createdAt', 'expiresAt', 'id', 'lastUsedAt', 'name', 'revokedAt'].sort(),
    );
    expect(JSON.stringify(await caller.tokens.list())).not.toContain(sha256(secret));
    // And the token works.
    expect((await callerWithToken(env.deps, secret).auth.me()).via).toBe('token');
  });

  it('a token may expire after a number of days', async () => {
    const caller = await callerAs(env.deps, org.owner);
    const before = Date.now();
    const { token } = await caller.tokens.create({
      name: 'temporary',
      abilities: ['read'],
      expiresInDays: 7,
    });
    expect(token.expiresAt!.getTime()).toBeGreaterThanOrEqual(before + 7 * 86_400_000);
    expect(token.expiresAt!.getTime()).toBeLessThanOrEqual(Date.now() + 7 * 86_400_000);
  });

  it('list shows only the caller’s own tokens in this organization', async () => {
    const member = await addMember(env.deps, org.id, 'member');
    const own = await tokenFor(env.deps, org.id, member, ['read'], 'member');
    await tokenFor(env.deps, org.id, org.owner);
    const listed = await (await callerAs(env.deps, member)).tokens.list();
    expect(listed).toHaveLength(1);
    const ownId = await scoped(
      org.id,
      async (em) => (await em.findOneOrFail(ApiToken, { tokenHash: sha256(own) })).id,
    );
    expect(listed[0]!.id).toBe(ownId);
  });

  it('revoke stops a token at once; another user’s token cannot be revoked', async () => {
    const member = await addMember(env.deps, org.id, 'member');
    const secret = await tokenFor(env.deps, org.id, member, ['read', 'tokens:manage'], 'member');
    const caller = await callerAs(env.deps, member);
    const [listed] = await caller.tokens.list();
    await caller.tokens.revoke({ id: listed!.id });
    expect((await caller.tokens.list())[0]!.revokedAt).toBeInstanceOf(Date);
    await expect(callerWithToken(env.deps, secret).auth.me()).rejects.toMatchObject({
      cause: { code: 'TOKEN_REVOKED' },
    });

    const ownerSecret = await tokenFor(env.deps, org.id, org.owner);
    const ownerTokenId = await scoped(
      org.id,
      async (em) => (await em.findOneOrFail(ApiToken, { tokenHash: sha256(ownerSecret) })).id,
    );
    await expect(caller.tokens.revoke({ id: ownerTokenId })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    expect((await callerWithToken(env.deps, ownerSecret).auth.me()).user.id).toBe(org.owner.id);
  });

  it('revokeCurrent revokes the token the call was made with, and needs a token', async () => {
    const secret = await tokenFor(env.deps, org.id, org.owner, ['read']);
    const other = await tokenFor(env.deps, org.id, org.owner, ['read']);
    await callerWithToken(env.deps, secret).tokens.revokeCurrent();
    await expect(callerWithToken(env.deps, secret).auth.me()).rejects.toMatchObject({
      cause: { code: 'TOKEN_REVOKED' },
    });
    expect((await callerWithToken(env.deps, other).auth.me()).via).toBe('token');

    const session = await callerAs(env.deps, org.owner);
    await expect(session.tokens.revokeCurrent()).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      cause: { code: 'VALIDATION_FAILED' },
    });
  });

  it('revokeAll revokes the caller’s tokens in this organization only', async () => {
    const user = await addMember(env.deps, org.id, 'admin');
    const elsewhere = await createOrg(env.deps);
    await scoped(elsewhere.id, async (em) => {
      em.create(Membership, { organization: elsewhere.id, user: user.id, role: 'admin' });
      await em.flush();
    });
    const here = [
      await tokenFor(env.deps, org.id, user, ['read'], 'admin'),
      await tokenFor(env.deps, org.id, user, ['read'], 'admin'),
    ];
    const there = await tokenFor(env.deps, elsewhere.id, user, ['read'], 'admin');
    const colleague = await tokenFor(env.deps, org.id, org.owner, ['read']);

    const { revoked } = await (await callerAs(env.deps, user)).tokens.revokeAll();
    expect(revoked).toBe(2);
    for (const secret of here) {
      await expect(callerWithToken(env.deps, secret).auth.me()).rejects.toMatchObject({
        cause: { code: 'TOKEN_REVOKED' },
      });
    }
    expect((await callerWithToken(env.deps, there).organization.current()).id).toBe(elsewhere.id);
    expect((await callerWithToken(env.deps, colleague).auth.me()).user.id).toBe(org.owner.id);
    expect(
      await scoped(org.id, (em) => em.count(ActivityLog, { action: 'token.revoked_all', user: user.id })),
    ).toBe(1);
  });

  it('a member cannot grant billing:manage (or any ability their role lacks)', async () => {
    const member = await addMember(env.deps, org.id, 'member');
    const caller = await callerAs(env.deps, member);
    const err = await caller.tokens
      .create({ name: 'escalate', abilities: ['read', 'billing:manage', 'members:manage'] })
      .catch((e) => e);
    expect(err).toMatchObject({ code: 'FORBIDDEN', cause: { code: 'ABILITY_MISSING' } });
    expect(err.cause.details.fieldErrors.abilities[0]).toContain('billing:manage, members:manage');
    expect(await caller.tokens.list()).toEqual([]);
  });

  it('a token may do only what both its abilities and its owner’s current role allow', async () => {
    const admin = await addMember(env.deps, org.id, 'admin');
    const caller = await callerAs(env.deps, admin);
    const { secret } = await caller.tokens.create({
      name: 'settings bot',
      abilities: ['read', 'settings:manage'],
    });
    const bot = callerWithToken(env.deps, secret);
    expect((await bot.auth.me()).abilities).toEqual(['read', 'settings:manage']);
    await bot.organization.update({ settings: { locale: 'fr' } });
    // Not granted to the token, though the admin role has it.
    await expect(bot.tokens.create({ name: 'x', abilities: ['read'] })).rejects.toMatchObject({
      cause: { code: 'ABILITY_MISSING' },
    });

    // Demoting the admin narrows the token at once.
    await scoped(org.id, async (em) => {
      (await em.findOneOrFail(Membership, { user: admin.id })).role = 'member';
      await em.flush();
    });
    expect((await bot.auth.me()).abilities).toEqual(['read']);
    await expect(bot.organization.update({ settings: { locale: 'de' } })).rejects.toMatchObject({
      code: 'FORBIDDEN',
      cause: { code: 'ABILITY_MISSING' },
    });
  });

  it('a token cannot switch organization', async () => {
    const secret = await tokenFor(env.deps, org.id, org.owner);
    const other = await createOrg(env.deps);
    await expect(
      callerWithToken(env.deps, secret).auth.switchOrganization({ organizationId: other.id }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });
});

describe('switch organization', () => {
  it('moves a session user between their organizations and refuses others', async () => {
    const user: TestUser = await addMember(env.deps, org.id, 'member');
    const second = await createOrg(env.deps, 'Second Home');
    await scoped(second.id, async (em) => {
      em.create(Membership, { organization: second.id, user: user.id, role: 'member' });
      await em.flush();
    });
    const caller = await callerAs(env.deps, user);
    const me = await caller.auth.switchOrganization({ organizationId: second.id });
    expect(me.organization?.id).toBe(second.id);
    expect(me.organizations.map((o) => o.id).sort()).toEqual([org.id, second.id].sort());
    expect((await caller.organization.current()).id).toBe(second.id);

    const stranger = await createOrg(env.deps);
    await expect(caller.auth.switchOrganization({ organizationId: stranger.id })).rejects.toMatchObject({
      cause: { code: 'NOT_A_MEMBER' },
    });
    expect((await caller.organization.current()).id).toBe(second.id);
  });
});
