import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDbScope } from '../../platform/db/context.ts';
import {
  addMember,
  callerAs,
  createOrg,
  createStaff,
  tokenFor,
  callerWithToken,
} from '../../test/factories.ts';
import type { TestOrg, TestUser } from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { OpsAudit } from './ops-audit.entity.ts';
import { listOperatorActions, recordOperatorAction } from './ops-audit.ts';

let env: TestEnv;
let org: TestOrg;
let other: TestOrg;
let staff: TestUser;

beforeAll(async () => {
  env = await createTestEnv();
  org = await createOrg(env.deps, 'Suspendable Ltd');
  other = await createOrg(env.deps, 'Bystander Inc');
  staff = await createStaff(env.deps);
});
afterAll(() => env.close());

describe('ops.tenants', () => {
  it('lists organizations with member counts, filtered by text, tier and status', async () => {
    await addMember(env.deps, org.id, 'member');
    const ops = await callerAs(env.deps, staff);
    const found = await ops.ops.tenants.list({ query: 'suspendable' });
    expect(found.total).toBe(1);
    expect(found.items[0]).toMatchObject({ id: org.id, name: 'Suspendable Ltd', active: true, members: 2 });
    const none = await ops.ops.tenants.list({ query: 'suspendable', status: 'suspended' });
    expect(none).toEqual({ total: 0, items: [] });
    const byTier = await ops.ops.tenants.list({ query: 'bystander', tier: 'free' });
    expect(byTier.items.map((o) => o.id)).toEqual([other.id]);
    // A LIKE wildcard typed by an operator is matched literally.
    expect((await ops.ops.tenants.list({ query: '%' })).total).toBe(0);
  });

  it('shows one tenant with members, usage and no subscription, read inside its own scope', async () => {
    const ops = await callerAs(env.deps, staff);
    const detail = await ops.ops.tenants.get({ id: org.id });
    expect(detail.organization).toMatchObject({ id: org.id, name: 'Suspendable Ltd', active: true });
    expect(detail.members.total).toBe(2);
    expect(detail.members.items.map((m) => m.role).sort()).toEqual(['member', 'owner']);
    expect(detail.usage).toMatchObject({ members: 2, documents: 0, activeApiTokens: 0, failedJobs: 0 });
    expect(detail.subscription).toBeNull();
    expect(detail.lastStatusChange).toBeNull();
    const page = await ops.ops.tenants.members({ id: org.id, limit: 1, offset: 1 });
    expect(page.total).toBe(2);
    expect(page.items).toHaveLength(1);
    await expect(ops.ops.tenants.get({ id: '00000000-0000-4000-8000-000000000000' })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it('suspends a tenant: its next request is refused, the act is audited, and reactivation lets it back in', async () => {
    const ops = await callerAs(env.deps, staff);
    const owner = await callerAs(env.deps, org.owner);
    const token = await tokenFor(env.deps, org.id, org.owner);
    const bystander = await callerAs(env.deps, other.owner);
    expect((await owner.organization.current()).id).toBe(org.id);

    await expect(ops.ops.tenants.suspend({ id: org.id, reason: 'Chargeback fraud' })).resolves.toEqual({
      id: org.id,
      active: false,
    });
    await expect(owner.organization.current()).rejects.toMatchObject({
      code: 'FORBIDDEN',
      message: expect.stringMatching(/suspended/) as unknown as string,
    });
    await expect(callerWithToken(env.deps, token).organization.current()).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
    // Only that tenant.
    expect((await bystander.organization.current()).id).toBe(other.id);

    // Suspending twice is a conflict, not a second audit entry.
    await expect(ops.ops.tenants.suspend({ id: org.id, reason: 'again' })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    const detail = await ops.ops.tenants.get({ id: org.id });
    expect(detail.organization.active).toBe(false);
    expect(detail.lastStatusChange).toMatchObject({
      action: 'tenant.suspend',
      operatorId: staff.id,
      operator: staff.email,
      details: { reason: 'Chargeback fraud', name: 'Suspendable Ltd' },
    });

    await ops.ops.tenants.reactivate({ id: org.id });
    expect((await owner.organization.current()).id).toBe(org.id);
    const log = await ops.ops.audit.list({ targetType: 'organization', targetId: org.id });
    expect(log.items.map((e) => e.action)).toEqual(['tenant.reactivate', 'tenant.suspend']);
    expect(log.items[0]?.requestId).toEqual(expect.any(String));
  });

  it('refuses bad input without writing anything', async () => {
    const ops = await callerAs(env.deps, staff);
    await expect(ops.ops.tenants.suspend({ id: org.id, reason: '   ' })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    await expect(ops.ops.tenants.suspend({ id: 'not-a-uuid', reason: 'x' })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    await expect(
      ops.ops.tenants.suspend({ id: '00000000-0000-4000-8000-000000000000', reason: 'x' }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await ops.ops.tenants.get({ id: org.id })).organization.active).toBe(true);
    const log = await ops.ops.audit.list({ targetType: 'organization', targetId: org.id });
    expect(log.total).toBe(2);
  });

  it('gives one change and one conflict when two operators suspend at the same moment', async () => {
    const a = await callerAs(env.deps, staff);
    const b = await callerAs(env.deps, await createStaff(env.deps));
    const results = await Promise.allSettled([
      a.ops.tenants.suspend({ id: other.id, reason: 'race a' }),
      b.ops.tenants.suspend({ id: other.id, reason: 'race b' }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.find((r) => r.status === 'rejected')).toMatchObject({ reason: { code: 'CONFLICT' } });
    const log = await a.ops.audit.list({ targetId: other.id, action: 'tenant.suspend' });
    expect(log.total).toBe(1);
    await a.ops.tenants.reactivate({ id: other.id, reason: 'race over' });
  });

  it('names the ids the metrics store reports', async () => {
    const ops = await callerAs(env.deps, staff);
    const names = await ops.ops.lookup({
      organizationIds: [org.id, '00000000-0000-4000-8000-000000000000'],
      userIds: [org.owner.id],
    });
    expect(names.organizations).toEqual({ [org.id]: { name: 'Suspendable Ltd', slug: expect.any(String) } });
    expect(names.users[org.owner.id]?.email).toBe(org.owner.email);
  });
});

describe('staff only', () => {
  it('refuses members, owners and anonymous callers on every procedure of the console that this module adds', async () => {
    for (const caller of [await callerAs(env.deps, org.owner), await callerAs(env.deps, null)]) {
      const calls = [
        () => caller.ops.tenants.list({}),
        () => caller.ops.tenants.get({ id: org.id }),
        () => caller.ops.tenants.members({ id: org.id }),
        () => caller.ops.tenants.suspend({ id: org.id, reason: 'x' }),
        () => caller.ops.tenants.reactivate({ id: org.id }),
        () => caller.ops.audit.list({}),
        () => caller.ops.lookup({}),
      ];
      for (const call of calls) {
        await expect(call()).rejects.toMatchObject({
          code: expect.stringMatching(/^(FORBIDDEN|UNAUTHORIZED)$/),
        });
      }
    }
    const ops = await callerAs(env.deps, staff);
    expect((await ops.ops.tenants.get({ id: org.id })).organization.active).toBe(true);
  });
});

describe('recordOperatorAction', () => {
  it('writes the entry in the caller’s transaction: a rolled-back action leaves no entry', async () => {
    const targetId = `job-${Date.now()}`;
    await expect(
      withDbScope(env.deps.em, undefined, (em) =>
        em.transactional(async (tx) => {
          await recordOperatorAction(tx, {
            operator: { id: staff.id, email: staff.email },
            action: 'job.retry',
            targetType: 'job',
            targetId,
          });
          throw new Error('the action failed after the entry was written');
        }),
      ),
    ).rejects.toThrow('the action failed');
    const after = await withDbScope(env.deps.em, undefined, (em) =>
      listOperatorActions(em, { targetId, limit: 10, offset: 0 }),
    );
    expect(after.total).toBe(0);
  });

  it('records CLI actions by label, keeps oversized details bounded and refuses malformed action names', async () => {
    await withDbScope(env.deps.em, undefined, async (em) => {
      const id = await recordOperatorAction(em, {
        operator: { label: 'cli:root@worker-1' },
        action: 'queue.pause',
        targetType: 'queue',
        targetId: 'mail',
        details: { note: 'x'.repeat(20_000) },
      });
      const row = await em.findOneOrFail(OpsAudit, { id });
      expect(row).toMatchObject({ operatorId: null, operator: 'cli:root@worker-1', targetId: 'mail' });
      expect(row.details).toEqual({ truncated: true, bytes: expect.any(Number), keys: ['note'] });
      await expect(
        recordOperatorAction(em, {
          operator: { label: 'cli' },
          action: 'DROP TABLE',
          targetType: 'system',
          targetId: null,
        }),
      ).rejects.toThrow();
    });
  });
});
