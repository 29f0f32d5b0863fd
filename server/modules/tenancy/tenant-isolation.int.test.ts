import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActivityLog } from '../activity/activity.entity.ts';
import { ApiToken } from '../auth/api-token.entity.ts';
import { withDbScope } from '../../platform/db/context.ts';
import { TENANT_FILTER } from '../../platform/db/tenant-filter.ts';
import { TenantViolationError } from '../../platform/db/tenant-guard.ts';
import { addMember, callerAs, createOrg, tokenFor, type TestOrg } from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { Membership } from './membership.entity.ts';

let env: TestEnv;
let a: TestOrg;
let b: TestOrg;
let tokenA: string;
let tokenB: string;

beforeAll(async () => {
  env = await createTestEnv();
  a = await createOrg(env.deps, 'Alpha');
  b = await createOrg(env.deps, 'Bravo');
  tokenA = await tokenFor(env.deps, a.id, a.owner);
  tokenB = await tokenFor(env.deps, b.id, b.owner);
});
afterAll(() => env.close());

const scoped = <T>(orgId: string | undefined, fn: Parameters<typeof withDbScope<T>>[2]) =>
  withDbScope(env.deps.em, orgId, fn);

describe('the tenant filter', () => {
  it('fails closed: a tenant-owned query with no tenant in context throws instead of returning every row', async () => {
    await expect(scoped(undefined, (em) => em.find(ApiToken, {}))).rejects.toThrow(/tenant/i);
    await expect(scoped(undefined, (em) => em.count(ActivityLog, {}))).rejects.toThrow(/tenant/i);
  });

  it('find, findOne by id, count, update and delete never reach another tenant', async () => {
    const bTokenId = await scoped(b.id, async (em) => (await em.findOneOrFail(ApiToken, {})).id);
    await scoped(a.id, async (em) => {
      expect(await em.findOne(ApiToken, bTokenId)).toBeNull();
      expect(await em.findOne(ApiToken, { id: bTokenId })).toBeNull();
      const all = await em.find(ApiToken, {});
      expect(all.every((t) => t.organization.id === a.id)).toBe(true);
      expect(await em.count(ApiToken, { id: bTokenId })).toBe(0);
      expect(await em.nativeUpdate(ApiToken, { id: bTokenId }, { name: 'pwned' })).toBe(0);
      expect(await em.nativeDelete(ApiToken, { id: bTokenId })).toBe(0);
    });
    const still = await scoped(b.id, (em) => em.findOneOrFail(ApiToken, bTokenId));
    expect(still.name).toBe('test');
  });

  it('populate of a relation never brings another tenant rows', async () => {
    await scoped(a.id, async (em) => {
      const memberships = await em.find(Membership, {}, { populate: ['organization', 'user'] });
      expect(memberships.length).toBeGreaterThan(0);
      expect(memberships.every((m) => m.organization.id === a.id)).toBe(true);
    });
  });

  it('QueryBuilder roots are filtered once applyFilters is called, and RLS covers them when it is forgotten', async () => {
    await scoped(a.id, async (em) => {
      const qb = em.createQueryBuilder(ApiToken);
      await qb.applyFilters();
      const rows = await qb.select('*').getResult();
      expect(rows.every((t) => t.organization.id === a.id)).toBe(true);
      // Without applyFilters the ORM adds nothing; the database's policy still hides B's rows.
      const raw = await em.createQueryBuilder(ApiToken).select('*').execute('all');
      expect(raw.length).toBeGreaterThan(0);
      expect((raw as unknown as { organization: string }[]).every((r) => r.organization === a.id)).toBe(true);
    });
  });

  it('raw SQL inside a tenant scope is limited by row-level security', async () => {
    await scoped(a.id, async (em) => {
      const rows = await em.transactional((tx) =>
        tx.execute<{ organization_id: string }[]>('select organization_id from api_tokens'),
      );
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.every((r) => r.organization_id === a.id)).toBe(true);
    });
  });

  it('getReference + modify/remove + flush of another tenant row is refused', async () => {
    const bTokenId = await scoped(b.id, async (em) => (await em.findOneOrFail(ApiToken, {})).id);
    await scoped(a.id, async (em) => {
      em.remove(em.getReference(ApiToken, bTokenId));
      await expect(em.flush()).rejects.toBeInstanceOf(TenantViolationError);
    });
    await scoped(a.id, async (em) => {
      const ref = em.getReference(ApiToken, bTokenId);
      ref.name = 'pwned';
      await expect(em.flush()).rejects.toThrow();
    });
    expect((await scoped(b.id, (em) => em.findOneOrFail(ApiToken, bTokenId))).name).toBe('test');
  });

  it('an entity loaded under one tenant cannot be flushed under another (identity map reuse)', async () => {
    await scoped(b.id, async (em) => {
      const token = await em.findOneOrFail(ApiToken, {});
      em.setFilterParams(TENANT_FILTER, { organizationId: a.id });
      token.name = 'moved';
      await expect(em.flush()).rejects.toBeInstanceOf(TenantViolationError);
    });
  });

  it('insert and upsert cannot write into another tenant', async () => {
    await scoped(a.id, async (em) => {
      em.create(ActivityLog, { organization: b.id, user: null, action: 'forged' });
      await expect(em.flush()).rejects.toBeInstanceOf(TenantViolationError);
    });
    await scoped(a.id, async (em) => {
      await expect(
        em.insert(ActivityLog, { organization: b.id, user: null, action: 'forged', createdAt: new Date() }),
      ).rejects.toThrow(/row-level security|policy/i);
    });
    const forged = await scoped(b.id, (em) => em.count(ActivityLog, { action: 'forged' }));
    expect(forged).toBe(0);
  });

  it('a create without an organization is given the scope organization', async () => {
    const id = await scoped(a.id, async (em) => {
      const row = em.create(ActivityLog, { action: 'implicit' } as never);
      await em.flush();
      return (row as unknown as { id: number }).id;
    });
    const row = await scoped(a.id, (em) => em.findOneOrFail(ActivityLog, id));
    expect(row.organization.id).toBe(a.id);
  });
});

describe('procedures across tenants', () => {
  it('a member of A sees only A through every tenant procedure', async () => {
    const member = await addMember(env.deps, a.id);
    const caller = await callerAs(env.deps, member);
    const members = await caller.organization.members();
    expect(members.map((m) => m.userId)).toContain(member.id);
    expect(members.map((m) => m.userId)).not.toContain(b.owner.id);
    const org = await caller.organization.current();
    expect(org.id).toBe(a.id);
  });

  it('X-Organization-Id of an organization the user is not in is refused', async () => {
    const caller = await callerAs(env.deps, a.owner, { organizationHeader: b.id });
    await expect(caller.organization.members()).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('an API token of A cannot be pointed at B', async () => {
    const { callerWithToken } = await import('../../test/factories.ts');
    const caller = callerWithToken(env.deps, tokenA, { organizationHeader: b.id });
    await expect(caller.organization.current()).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const own = callerWithToken(env.deps, tokenB);
    expect((await own.organization.current()).id).toBe(b.id);
  });

  it('switching to an organization the user is not in is refused', async () => {
    const caller = await callerAs(env.deps, a.owner);
    await expect(caller.auth.switchOrganization({ organizationId: b.id })).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
  });

  it('revoking a token id of another organization finds nothing', async () => {
    const bTokenId = await scoped(b.id, async (em) => (await em.findOneOrFail(ApiToken, {})).id);
    const caller = await callerAs(env.deps, a.owner);
    await expect(caller.tokens.revoke({ id: bTokenId })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('switching organization', () => {
  it('answers with the organization switched to', async () => {
    const both = await addMember(env.deps, a.id);
    const { withDbScope: scope } = await import('../../platform/db/context.ts');
    await scope(env.deps.em, b.id, async (em) => {
      em.create(Membership, { organization: b.id, user: both.id, role: 'member' });
      await em.flush();
    });
    const caller = await callerAs(env.deps, both);
    const me = await caller.auth.switchOrganization({ organizationId: b.id });
    expect(me.organization?.id).toBe(b.id);
    expect((await caller.auth.me()).organization?.id).toBe(b.id);
  });
});

describe('tenant settings', () => {
  it('override configuration per organization, are cached, and change as soon as they are updated', async () => {
    const caller = await callerAs(env.deps, a.owner);
    expect((await caller.organization.current()).settings.timezone).toBe('UTC');
    await caller.organization.update({ settings: { timezone: 'Europe/Paris', dashboardCacheSeconds: 30 } });
    const after = await caller.organization.current();
    expect(after.settings).toMatchObject({ timezone: 'Europe/Paris', dashboardCacheSeconds: 30 });
    const other = await callerAs(env.deps, b.owner);
    expect((await other.organization.current()).settings.timezone).toBe('UTC');
  });
});
