import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../../shared/permissions.ts';
import { withDbScope } from '../../platform/db/context.ts';
import {
  addMember,
  callerAs,
  callerWithToken,
  createOrg,
  tokenFor,
  type TestOrg,
  type TestUser,
} from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { ActivityLog } from '../activity/activity.entity.ts';
import { AccessWatcher } from '../realtime/access-watcher.ts';
import { ApiToken } from '../auth/api-token.entity.ts';
import { User } from '../auth/user.entity.ts';
import { Membership } from './membership.entity.ts';
import { failureCode } from '../../test/errors.ts';

let env: TestEnv;
let b: TestOrg;

beforeAll(async () => {
  env = await createTestEnv();
  b = await createOrg(env.deps, 'Bravo');
});
afterAll(() => env.close());

const roleOf = (orgId: string, userId: string) =>
  withDbScope(
    env.deps.em,
    orgId,
    async (em) => (await em.findOne(Membership, { user: userId }))?.role ?? null,
  );

const activity = (orgId: string, action: string, subjectId: string) =>
  withDbScope(env.deps.em, orgId, (em) => em.find(ActivityLog, { action, subjectId }));

const caller = (user: TestUser, organizationHeader?: string) =>
  callerAs(env.deps, user, organizationHeader ? { organizationHeader } : {});

async function orgWith(...roles: Role[]) {
  const org = await createOrg(env.deps);
  const users: TestUser[] = [];
  for (const role of roles) users.push(await addMember(env.deps, org.id, role));
  return { org, users };
}

describe('organization.changeRole', () => {
  it('an owner changes any role, including making another owner, and the change is recorded', async () => {
    const { org, users } = await orgWith('member', 'admin');
    const [member, admin] = users as [TestUser, TestUser];
    const owner = await caller(org.owner);
    expect(await owner.organization.changeRole({ userId: member.id, role: 'admin' })).toEqual({
      userId: member.id,
      role: 'admin',
    });
    await owner.organization.changeRole({ userId: admin.id, role: 'owner' });
    expect(await roleOf(org.id, member.id)).toBe('admin');
    expect(await roleOf(org.id, admin.id)).toBe('owner');
    const [row] = await activity(org.id, 'member.role_changed', member.id);
    expect(row?.metadata).toEqual({ from: 'member', to: 'admin' });
    expect(row?.user?.id).toBe(org.owner.id);
    const listed = await owner.organization.members();
    expect(listed.find((m) => m.userId === member.id)?.role).toBe('admin');
  });

  it('setting the role a member already has changes nothing and records nothing', async () => {
    const { org, users } = await orgWith('member');
    const owner = await caller(org.owner);
    await owner.organization.changeRole({ userId: users[0]!.id, role: 'member' });
    expect(await activity(org.id, 'member.role_changed', users[0]!.id)).toHaveLength(0);
  });

  it('an admin manages members and admins but cannot make an owner nor change an owner', async () => {
    const { org, users } = await orgWith('admin', 'member', 'owner');
    const [admin, member, secondOwner] = users as [TestUser, TestUser, TestUser];
    const asAdmin = await caller(admin);
    await asAdmin.organization.changeRole({ userId: member.id, role: 'admin' });
    expect(await roleOf(org.id, member.id)).toBe('admin');
    expect(await failureCode(asAdmin.organization.changeRole({ userId: member.id, role: 'owner' }))).toBe(
      'ABILITY_MISSING',
    );
    expect(await failureCode(asAdmin.organization.changeRole({ userId: admin.id, role: 'owner' }))).toBe(
      'ABILITY_MISSING',
    );
    expect(
      await failureCode(asAdmin.organization.changeRole({ userId: secondOwner.id, role: 'member' })),
    ).toBe('ABILITY_MISSING');
    expect(await roleOf(org.id, member.id)).toBe('admin');
    expect(await roleOf(org.id, admin.id)).toBe('admin');
    expect(await roleOf(org.id, secondOwner.id)).toBe('owner');
  });

  it('the last owner cannot be demoted, by themselves or anyone; with a second owner they can', async () => {
    const { org, users } = await orgWith('member');
    const owner = await caller(org.owner);
    expect(await failureCode(owner.organization.changeRole({ userId: org.owner.id, role: 'admin' }))).toBe(
      'LAST_OWNER',
    );
    expect(await roleOf(org.id, org.owner.id)).toBe('owner');
    await owner.organization.changeRole({ userId: users[0]!.id, role: 'owner' });
    await owner.organization.changeRole({ userId: org.owner.id, role: 'member' });
    expect(await roleOf(org.id, org.owner.id)).toBe('member');
    const other = await caller(users[0]!);
    expect(await failureCode(other.organization.changeRole({ userId: users[0]!.id, role: 'admin' }))).toBe(
      'LAST_OWNER',
    );
  });

  it('two owners demoting each other at the same time leave one owner', async () => {
    const { org, users } = await orgWith('owner');
    const first = await caller(org.owner);
    const second = await caller(users[0]!);
    const results = await Promise.allSettled([
      first.organization.changeRole({ userId: users[0]!.id, role: 'member' }),
      second.organization.changeRole({ userId: org.owner.id, role: 'member' }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const roles = [await roleOf(org.id, org.owner.id), await roleOf(org.id, users[0]!.id)];
    expect(roles.filter((r) => r === 'owner')).toHaveLength(1);
  });

  it('a member without members:manage is refused', async () => {
    const { org, users } = await orgWith('member', 'member');
    const asMember = await caller(users[0]!);
    expect(await failureCode(asMember.organization.changeRole({ userId: users[1]!.id, role: 'admin' }))).toBe(
      'ABILITY_MISSING',
    );
    expect(await failureCode(asMember.organization.changeRole({ userId: users[0]!.id, role: 'owner' }))).toBe(
      'ABILITY_MISSING',
    );
    expect(await roleOf(org.id, users[1]!.id)).toBe('member');
  });

  it('an owner token without members:manage is refused, whatever the role of its owner', async () => {
    const { org, users } = await orgWith('member');
    const secret = await tokenFor(env.deps, org.id, org.owner, ['read', 'write']);
    const viaToken = callerWithToken(env.deps, secret);
    expect(await failureCode(viaToken.organization.changeRole({ userId: users[0]!.id, role: 'admin' }))).toBe(
      'ABILITY_MISSING',
    );
  });

  it('bad input is refused before anything runs', async () => {
    const { org, users } = await orgWith('member');
    const owner = await caller(org.owner);
    const bad = [
      { userId: 'not-a-uuid', role: 'admin' },
      { userId: users[0]!.id, role: 'superuser' },
      { userId: users[0]!.id, role: 'admin', organizationId: b.id },
    ];
    for (const input of bad) {
      expect(await failureCode(owner.organization.changeRole(input as never))).toBe('BAD_REQUEST');
    }
    expect(await roleOf(org.id, users[0]!.id)).toBe('member');
  });
});

describe('organization.removeMember', () => {
  it('removes the membership, revokes the member tokens here only, clears their current organization, and records it', async () => {
    const { org, users } = await orgWith('member');
    const member = users[0]!;
    const token = await tokenFor(env.deps, org.id, member, ['read'], 'member');
    // The same user in B, with a token there: B's rows must not be touched.
    await withDbScope(env.deps.em, b.id, async (em) => {
      em.create(Membership, { organization: b.id, user: member.id, role: 'member' });
      await em.flush();
    });
    const tokenInB = await tokenFor(env.deps, b.id, member, ['read'], 'member');
    expect((await callerWithToken(env.deps, token).organization.current()).id).toBe(org.id);

    const owner = await caller(org.owner);
    expect(await owner.organization.removeMember({ userId: member.id })).toEqual({ userId: member.id });

    expect(await roleOf(org.id, member.id)).toBeNull();
    expect(await roleOf(b.id, member.id)).toBe('member');
    expect(await failureCode(callerWithToken(env.deps, token).organization.current())).toBe('TOKEN_REVOKED');
    expect((await callerWithToken(env.deps, tokenInB).organization.current()).id).toBe(b.id);
    const user = await withDbScope(env.deps.em, undefined, (em) => em.findOneOrFail(User, member.id));
    expect(user.currentOrganization).toBeNull();
    const [row] = await activity(org.id, 'member.removed', member.id);
    expect(row?.user?.id).toBe(org.owner.id);
    expect(row?.metadata).toMatchObject({ role: 'member', tokensRevoked: 1 });
    expect((await owner.organization.members()).map((m) => m.userId)).not.toContain(member.id);
  });

  it("leaves the member's current organization alone when it is another one", async () => {
    const { org, users } = await orgWith('member');
    const member = users[0]!;
    await withDbScope(env.deps.em, b.id, async (em) => {
      em.create(Membership, { organization: b.id, user: member.id, role: 'member' });
      await em.flush();
    });
    await (await caller(member)).auth.switchOrganization({ organizationId: b.id });
    await (await caller(org.owner)).organization.removeMember({ userId: member.id });
    const user = await withDbScope(env.deps.em, undefined, (em) => em.findOneOrFail(User, member.id));
    expect(user.currentOrganization?.id).toBe(b.id);
  });

  it("the removed member's next call is refused", async () => {
    const { org, users } = await orgWith('member');
    const member = users[0]!;
    const asMember = await caller(member);
    expect((await asMember.organization.current()).id).toBe(org.id);
    await (await caller(org.owner)).organization.removeMember({ userId: member.id });
    // Naming the organization explicitly: not a member any more.
    const named = await caller(member, org.id);
    expect(await failureCode(named.organization.members())).toBe('NOT_A_MEMBER');
    // The same session without a header: the organization is no longer their current one.
    expect(await failureCode(asMember.organization.members())).toBe('TENANT_REQUIRED');
    expect((await asMember.auth.me()).organizations.map((o) => o.id)).not.toContain(org.id);
  });

  it('an admin removes members and admins but not an owner', async () => {
    const { org, users } = await orgWith('admin', 'admin', 'member', 'owner');
    const [admin, otherAdmin, member, secondOwner] = users as [TestUser, TestUser, TestUser, TestUser];
    const asAdmin = await caller(admin);
    await asAdmin.organization.removeMember({ userId: member.id });
    await asAdmin.organization.removeMember({ userId: otherAdmin.id });
    expect(await failureCode(asAdmin.organization.removeMember({ userId: secondOwner.id }))).toBe(
      'ABILITY_MISSING',
    );
    expect(await failureCode(asAdmin.organization.removeMember({ userId: org.owner.id }))).toBe(
      'ABILITY_MISSING',
    );
    expect(await roleOf(org.id, secondOwner.id)).toBe('owner');
    expect(await roleOf(org.id, member.id)).toBeNull();
  });

  it('the last owner cannot be removed; one of two owners can', async () => {
    const { org, users } = await orgWith('owner');
    const owner = await caller(org.owner);
    await owner.organization.removeMember({ userId: users[0]!.id });
    expect(await failureCode(owner.organization.removeMember({ userId: org.owner.id }))).toBe('LAST_OWNER');
    expect(await roleOf(org.id, org.owner.id)).toBe('owner');
    expect(await activity(org.id, 'member.removed', org.owner.id)).toHaveLength(0);
  });

  it('a member without members:manage is refused', async () => {
    const { org, users } = await orgWith('member', 'member');
    const asMember = await caller(users[0]!);
    expect(await failureCode(asMember.organization.removeMember({ userId: users[1]!.id }))).toBe(
      'ABILITY_MISSING',
    );
    expect(await roleOf(org.id, users[1]!.id)).toBe('member');
  });
});

describe('across tenants', () => {
  it("another organization's user id is not found, and their rows are untouched", async () => {
    const { org } = await orgWith();
    const bMember = await addMember(env.deps, b.id, 'member');
    const bToken = await tokenFor(env.deps, b.id, bMember, ['read'], 'member');
    const owner = await caller(org.owner);
    expect(await failureCode(owner.organization.changeRole({ userId: bMember.id, role: 'admin' }))).toBe(
      'NOT_FOUND',
    );
    expect(await failureCode(owner.organization.removeMember({ userId: bMember.id }))).toBe('NOT_FOUND');
    expect(await failureCode(owner.organization.removeMember({ userId: b.owner.id }))).toBe('NOT_FOUND');
    expect(await roleOf(b.id, bMember.id)).toBe('member');
    expect(await roleOf(b.id, b.owner.id)).toBe('owner');
    expect((await callerWithToken(env.deps, bToken).organization.current()).id).toBe(b.id);
    expect(await failureCode(owner.organization.removeMember({ userId: crypto.randomUUID() }))).toBe(
      'NOT_FOUND',
    );
  });

  it('X-Organization-Id of an organization the caller is not in is refused before anything changes', async () => {
    const { org } = await orgWith();
    const bMember = await addMember(env.deps, b.id, 'member');
    const pointedAtB = await caller(org.owner, b.id);
    expect(await failureCode(pointedAtB.organization.changeRole({ userId: bMember.id, role: 'owner' }))).toBe(
      'NOT_A_MEMBER',
    );
    expect(await failureCode(pointedAtB.organization.removeMember({ userId: bMember.id }))).toBe(
      'NOT_A_MEMBER',
    );
    expect(await failureCode(pointedAtB.organization.leave())).toBe('NOT_A_MEMBER');
    expect(await roleOf(b.id, bMember.id)).toBe('member');
  });

  it('a token of one organization cannot be pointed at another to manage its members', async () => {
    const { org } = await orgWith();
    const secret = await tokenFor(env.deps, org.id, org.owner, ['read', 'members:manage']);
    const viaToken = callerWithToken(env.deps, secret, { organizationHeader: b.id });
    expect(await failureCode(viaToken.organization.removeMember({ userId: b.owner.id }))).toBe(
      'NOT_A_MEMBER',
    );
    expect(await roleOf(b.id, b.owner.id)).toBe('owner');
  });
});

describe('organization.leave', () => {
  it('a member leaves: membership gone, tokens revoked, current organization cleared, recorded as member.left', async () => {
    const { org, users } = await orgWith('member');
    const member = users[0]!;
    const token = await tokenFor(env.deps, org.id, member, ['read'], 'member');
    const asMember = await caller(member);
    expect(await asMember.organization.leave()).toEqual({ organizationId: org.id });
    expect(await roleOf(org.id, member.id)).toBeNull();
    expect(await failureCode(callerWithToken(env.deps, token).organization.current())).toBe('TOKEN_REVOKED');
    const user = await withDbScope(env.deps.em, undefined, (em) => em.findOneOrFail(User, member.id));
    expect(user.currentOrganization).toBeNull();
    const [row] = await activity(org.id, 'member.left', member.id);
    expect(row?.user?.id).toBe(member.id);
    expect(await failureCode((await caller(member, org.id)).organization.current())).toBe('NOT_A_MEMBER');
  });

  it('the last owner cannot leave; an owner with a co-owner can', async () => {
    const { org, users } = await orgWith('owner');
    const asOwner = await caller(org.owner);
    const asOther = await caller(users[0]!);
    await asOther.organization.leave();
    expect(await failureCode(asOwner.organization.leave())).toBe('LAST_OWNER');
    expect(await roleOf(org.id, org.owner.id)).toBe('owner');
    expect(await activity(org.id, 'member.left', org.owner.id)).toHaveLength(0);
  });

  it('the churn counts on the dashboard see removals and departures', async () => {
    const { org, users } = await orgWith('member', 'member');
    await (await caller(org.owner)).organization.removeMember({ userId: users[0]!.id });
    await (await caller(users[1]!)).organization.leave();
    const left = await withDbScope(env.deps.em, org.id, (em) =>
      em.count(ActivityLog, { action: { $in: ['member.removed', 'member.left'] } }),
    );
    expect(left).toBe(2);
    const revoked = await withDbScope(env.deps.em, org.id, (em) =>
      em.count(ApiToken, { user: { $in: users.map((u) => u.id) }, revokedAt: null }),
    );
    expect(revoked).toBe(0);
  });
});

describe('live subscriptions', () => {
  it('a removal and a role change are announced to the access watcher once committed', async () => {
    const published: string[][] = [];
    env.deps.orm.em
      .getEventManager()
      .registerSubscriber(new AccessWatcher(async (change) => void published.push(change.revoked)));
    const { org, users } = await orgWith('member', 'member');
    const [demoted, removed] = users as [TestUser, TestUser];
    await tokenFor(env.deps, org.id, removed, ['read'], 'member');
    const tokenId = await withDbScope(
      env.deps.em,
      org.id,
      async (em) => (await em.findOneOrFail(ApiToken, { user: removed.id })).id,
    );
    const owner = await caller(org.owner);
    await owner.organization.changeRole({ userId: demoted.id, role: 'admin' });
    await owner.organization.removeMember({ userId: removed.id });
    const keys = published.flat();
    expect(keys).toContain(`member:${org.id}:${demoted.id}`);
    expect(keys).toContain(`member:${org.id}:${removed.id}`);
    expect(keys).toContain(`token:${tokenId}`);
  });
});
