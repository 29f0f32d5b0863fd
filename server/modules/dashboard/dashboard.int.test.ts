import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDbScope } from '../../platform/db/context.ts';
import { addMember, callerAs, createOrg, type TestOrg } from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { recordActivity } from '../activity/activity.service.ts';
import { User } from '../auth/user.entity.ts';
import { Membership } from '../tenancy/membership.entity.ts';
import { organizationsToWarm, warmOrganizations } from './dashboard.warm.ts';

let env: TestEnv;
let a: TestOrg;
let b: TestOrg;

beforeAll(async () => {
  env = await createTestEnv();
  a = await createOrg(env.deps, 'Dash Alpha');
  b = await createOrg(env.deps, 'Dash Bravo');
});
afterAll(() => env?.close());

const statsOf = async (org: TestOrg) => (await callerAs(env.deps, org.owner)).dashboard.stats();

describe('dashboard stats', () => {
  it('reports the tenant’s own numbers, from the cache on the second read', async () => {
    const first = await statsOf(a);
    expect(first).toMatchObject({ users: 1, mrrCents: 0, churn30d: 0, membersLost30d: 0 });
    expect(first.recentActivity.map((x) => x.action)).toContain('organization.created');
    const runs = env.deps.cache.stats().factory.runs;
    const again = await statsOf(a);
    expect(again.users).toBe(1);
    expect(env.deps.cache.stats().factory.runs).toBe(runs);
    // The other organization's figures are its own.
    await addMember(env.deps, b.id);
    expect((await statsOf(b)).users).toBe(2);
    expect((await statsOf(a)).users).toBe(1);
  });

  it('a new member shows at once: the membership write flushes the cached stats', async () => {
    await statsOf(a);
    await addMember(env.deps, a.id);
    expect((await statsOf(a)).users).toBe(2);
  });

  it('a write inside a transaction flushes after the commit, and a rollback flushes nothing', async () => {
    const before = (await statsOf(a)).users;
    const user = await withDbScope(env.deps.em, undefined, async (em) => {
      const u = em.create(User, { email: `tx-${Date.now()}@example.test`, name: 'Tx', passwordHash: 'x' });
      await em.flush();
      return u;
    });
    const runs = env.deps.cache.stats().factory.runs;
    await expect(
      withDbScope(env.deps.em, a.id, (em) =>
        em.transactional(async (tx) => {
          tx.create(Membership, { organization: a.id, user: user.id, role: 'member' });
          await tx.flush();
          throw new Error('rolled back');
        }),
      ),
    ).rejects.toThrow('rolled back');
    expect((await statsOf(a)).users).toBe(before);
    expect(env.deps.cache.stats().factory.runs).toBe(runs);

    await withDbScope(env.deps.em, a.id, (em) =>
      em.transactional(async (tx) => {
        tx.create(Membership, { organization: a.id, user: user.id, role: 'member' });
      }),
    );
    expect((await statsOf(a)).users).toBe(before + 1);
  });

  it('new activity shows at once, and departures count as churn', async () => {
    await statsOf(a);
    await withDbScope(env.deps.em, a.id, async (em) => {
      recordActivity(em, { organizationId: a.id, userId: a.owner.id, action: 'member.removed' });
      await em.flush();
    });
    const stats = await statsOf(a);
    expect(stats.recentActivity[0]?.action).toBe('member.removed');
    expect(stats.membersLost30d).toBe(1);
    expect(stats.churn30d).toBeCloseTo(1 / (stats.users + 1));
  });
});

describe('cache:warm', () => {
  it('fills stats and members of the named organizations, reporting progress', async () => {
    const org = await createOrg(env.deps, 'Warm Me');
    const targets = await organizationsToWarm(env.deps, [org.id]);
    const progress: number[] = [];
    const result = await warmOrganizations(env.deps, targets, (n) => progress.push(n));
    expect(result).toEqual({ organizations: 1, failed: [] });
    expect(progress).toEqual([1]);
    const scope = env.deps.cache.tenant(org.id);
    expect(await scope.get('dashboard:stats')).toMatchObject({ users: 1 });
    expect(await scope.get('members:list')).toHaveLength(1);
  });

  it('refuses organizations that do not exist', async () => {
    await expect(organizationsToWarm(env.deps, ['no-such-slug'])).rejects.toThrow(/no-such-slug/);
  });
});
