import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callerAs, createOrg, createStaff, type TestOrg, type TestUser } from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';

let env: TestEnv;
let org: TestOrg;
let staff: TestUser;

beforeAll(async () => {
  env = await createTestEnv();
  org = await createOrg(env.deps);
  staff = await createStaff(env.deps);
});
afterAll(() => env.close());

describe('ops.monitoring', () => {
  it('gives staff chart points with rates and fleet percentiles', async () => {
    const obs = env.deps.observability;
    for (let i = 0; i < 40; i++) {
      obs.recordRequest({
        method: 'GET',
        route: 'r',
        status: i < 2 ? 500 : 200,
        ms: 5 + i,
        requestId: 'x',
        organizationId: org.id,
      });
    }
    await obs.console.flush();
    const caller = await callerAs(env.deps, staff);
    const points = await caller.ops.monitoring.series({ range: '1h' });
    expect(points.length).toBeGreaterThanOrEqual(60);
    const current = points.filter((p) => p.requestsPerMinute > 0);
    expect(current.reduce((n, p) => n + p.requestsPerMinute, 0)).toBe(40);
    expect(current.some((p) => p.errorRate > 0 && p.p95 !== null)).toBe(true);
    const top = await caller.ops.monitoring.top({ kind: 'org:req' });
    expect(top[0]).toEqual({ member: org.id, score: 40 });
    const health = await caller.ops.monitoring.health();
    expect(health.checks['postgres:responseTime']?.[0]?.status).toBe('pass');
  });

  it('refuses members and anonymous callers', async () => {
    const member = await callerAs(env.deps, org.owner);
    await expect(member.ops.monitoring.series({ range: '1h' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(member.ops.alerts.statuses()).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const anon = await callerAs(env.deps, null);
    await expect(anon.ops.monitoring.slowQueries({})).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });

  it('rejects a range it does not know', async () => {
    const caller = await callerAs(env.deps, staff);
    await expect(caller.ops.monitoring.series({ range: '2y' as '1h' })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
  });
});
