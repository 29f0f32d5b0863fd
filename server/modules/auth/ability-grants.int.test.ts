// Every path that hands out abilities grants only what the calling credential holds itself (issue 17, finding 1):
// a new API token, an invitation with a role, a role change — each by a session and by a narrowed token — and the
// staff flag, which no API token carries.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ability, Role } from '../../../shared/permissions.ts';
import { withDbScope } from '../../platform/db/context.ts';
import { failureCode } from '../../test/errors.ts';
import {
  addMember,
  callerAs,
  callerWithToken,
  createOrg,
  createStaff,
  tokenFor,
  type TestOrg,
} from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { Invitation } from '../invitations/invitation.entity.ts';
import { Membership } from '../tenancy/membership.entity.ts';
import { ApiToken } from './api-token.entity.ts';

let env: TestEnv;
let org: TestOrg;

beforeAll(async () => {
  env = await createTestEnv();
  org = await createOrg(env.deps, 'Grants Co');
});
afterAll(() => env.close());

const email = () => `invitee-${randomBytes(4).toString('hex')}@example.test`;
const scoped = <T>(fn: Parameters<typeof withDbScope<T>>[2]) => withDbScope(env.deps.em, org.id, fn);
const tokenCount = () => scoped((em) => em.count(ApiToken, {}));
const invitationsTo = (address: string) => scoped((em) => em.count(Invitation, { email: address }));
const roleOf = (userId: string) =>
  scoped(async (em) => (await em.findOne(Membership, { user: userId }))?.role ?? null);
/** A token of the organization's owner narrowed to the given abilities. */
const ownerToken = async (abilities: Ability[]) =>
  callerWithToken(env.deps, await tokenFor(env.deps, org.id, org.owner, abilities));

describe('tokens.create', () => {
  it('a token holding only tokens:manage mints nothing beyond tokens:manage, whatever its owner’s role', async () => {
    const bot = await ownerToken(['tokens:manage']);
    const before = await tokenCount();
    for (const abilities of [
      ['billing:manage'],
      ['members:manage'],
      ['read', 'write', 'members:manage', 'settings:manage', 'tokens:manage', 'billing:manage'],
      ['read'],
    ] satisfies Ability[][]) {
      const err = await bot.tokens.create({ name: 'escalate', abilities }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'FORBIDDEN', cause: { code: 'ABILITY_MISSING' } });
    }
    expect(await tokenCount()).toBe(before);
    // What it holds it may pass on, and the child is no wider.
    const { secret } = await bot.tokens.create({ name: 'child', abilities: ['tokens:manage'] });
    expect((await callerWithToken(env.deps, secret).auth.me()).abilities).toEqual(['tokens:manage']);
  });

  it('a token may grant a subset of its own abilities, and the refusal names exactly what it lacks', async () => {
    const bot = await ownerToken(['read', 'write', 'tokens:manage']);
    const { token } = await bot.tokens.create({ name: 'reader', abilities: ['read'] });
    expect(token.abilities).toEqual(['read']);
    const err = await bot.tokens
      .create({ name: 'x', abilities: ['read', 'billing:manage', 'settings:manage'] })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({
      cause: {
        code: 'ABILITY_MISSING',
        details: { fieldErrors: { abilities: ['not held by you: billing:manage, settings:manage'] } },
      },
    });
  });

  it('a session grants what its role holds: an admin not billing:manage, an owner everything', async () => {
    const admin = await callerAs(env.deps, await addMember(env.deps, org.id, 'admin'));
    expect(await failureCode(admin.tokens.create({ name: 'x', abilities: ['billing:manage'] }))).toBe(
      'ABILITY_MISSING',
    );
    await admin.tokens.create({ name: 'ok', abilities: ['members:manage', 'settings:manage'] });
    const owner = await callerAs(env.deps, org.owner);
    await owner.tokens.create({ name: 'all', abilities: ['billing:manage', 'members:manage'] });
  });
});

describe('invitations.create', () => {
  it('a token holding members:manage cannot invite anyone into abilities it lacks', async () => {
    const bot = await ownerToken(['read', 'members:manage']);
    for (const role of ['owner', 'admin', 'member'] satisfies Role[]) {
      const address = email();
      const err = await bot.invitations.create({ email: address, role }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'FORBIDDEN', cause: { code: 'ABILITY_MISSING' } });
      expect(await invitationsTo(address)).toBe(0);
    }
  });

  it('a token with every admin ability invites an admin, not an owner', async () => {
    const bot = await ownerToken(['read', 'write', 'members:manage', 'settings:manage', 'tokens:manage']);
    const ownerEmail = email();
    const err = await bot.invitations.create({ email: ownerEmail, role: 'owner' }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      cause: { details: { fieldErrors: { role: ['grants abilities you do not hold: billing:manage'] } } },
    });
    expect(await invitationsTo(ownerEmail)).toBe(0);
    const adminEmail = email();
    await bot.invitations.create({ email: adminEmail, role: 'admin' });
    expect(await invitationsTo(adminEmail)).toBe(1);
  });

  it('a session invites up to its own role', async () => {
    const admin = await callerAs(env.deps, await addMember(env.deps, org.id, 'admin'));
    expect(await failureCode(admin.invitations.create({ email: email(), role: 'owner' }))).toBe(
      'ABILITY_MISSING',
    );
    await admin.invitations.create({ email: email(), role: 'admin' });
    await (await callerAs(env.deps, org.owner)).invitations.create({ email: email(), role: 'owner' });
  });
});

describe('organization.changeRole', () => {
  it('a token holding members:manage cannot promote a member into abilities it lacks', async () => {
    const bot = await ownerToken(['read', 'members:manage']);
    const member = await addMember(env.deps, org.id, 'member');
    for (const role of ['admin', 'owner'] satisfies Role[]) {
      expect(await failureCode(bot.organization.changeRole({ userId: member.id, role }))).toBe(
        'ABILITY_MISSING',
      );
      expect(await roleOf(member.id)).toBe('member');
    }
  });

  it('a narrowed token may still demote (a demotion grants nothing)', async () => {
    const bot = await ownerToken(['read', 'members:manage']);
    const admin = await addMember(env.deps, org.id, 'admin');
    await bot.organization.changeRole({ userId: admin.id, role: 'member' });
    expect(await roleOf(admin.id)).toBe('member');
  });

  it('a token holding every owner ability makes an owner; a session follows its role', async () => {
    const full = await ownerToken([
      'read',
      'write',
      'members:manage',
      'settings:manage',
      'tokens:manage',
      'billing:manage',
    ]);
    const member = await addMember(env.deps, org.id, 'member');
    await full.organization.changeRole({ userId: member.id, role: 'owner' });
    expect(await roleOf(member.id)).toBe('owner');

    const admin = await callerAs(env.deps, await addMember(env.deps, org.id, 'admin'));
    const other = await addMember(env.deps, org.id, 'member');
    expect(await failureCode(admin.organization.changeRole({ userId: other.id, role: 'owner' }))).toBe(
      'ABILITY_MISSING',
    );
    await admin.organization.changeRole({ userId: other.id, role: 'admin' });
    expect(await roleOf(other.id)).toBe('admin');
  });
});

describe('staff', () => {
  it('a staff member’s API token carries no staff power; their session does', async () => {
    const staff = await createStaff(env.deps);
    await scoped(async (em) => {
      em.create(Membership, { organization: org.id, user: staff.id, role: 'member' });
      await em.flush();
    });
    const token = callerWithToken(env.deps, await tokenFor(env.deps, org.id, staff, ['read'], 'member'));
    expect(await failureCode(token.ops.tenants.list({}))).toBe('STAFF_ONLY');
    expect(await failureCode(token.ops.tenants.suspend({ id: org.id, reason: 'token' }))).toBe('STAFF_ONLY');
    expect(await failureCode(token.ops.queues.list())).toBe('STAFF_ONLY');
    const session = await callerAs(env.deps, staff);
    expect((await session.ops.tenants.list({})).items.length).toBeGreaterThan(0);
  });

  it('being staff grants nothing inside an organization the staff member does not belong to', async () => {
    const staff = await callerAs(env.deps, await createStaff(env.deps), { organizationHeader: org.id });
    expect(await failureCode(staff.tokens.create({ name: 'x', abilities: ['read'] }))).toBe('NOT_A_MEMBER');
    expect(await failureCode(staff.invitations.create({ email: email(), role: 'owner' }))).toBe(
      'NOT_A_MEMBER',
    );
    expect(await failureCode(staff.organization.members())).toBe('NOT_A_MEMBER');
  });
});
