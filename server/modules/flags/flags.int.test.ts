import { randomBytes } from 'node:crypto';
import { OpenFeature } from '@openfeature/server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDbScope } from '../../platform/db/context.ts';
import { callerAs, createOrg, createStaff, type TestOrg, type TestUser } from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { OpsAudit } from '../ops/ops-audit.entity.ts';
import { FlagAudit } from './flag.entity.ts';
import { rolloutBucket } from './flags.evaluate.ts';
import { KeelFlagProvider } from './openfeature.ts';

let env: TestEnv;
let staff: TestUser;
let org: TestOrg;

beforeAll(async () => {
  env = await createTestEnv();
  staff = await createStaff(env.deps);
  org = await createOrg(env.deps);
});
afterAll(() => env?.close());

const key = (name: string) => `${name}-${randomBytes(3).toString('hex')}`;
const ops = () => callerAs(env.deps, staff).then((c) => c.ops.flags);
const synthetic = (i: number) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;

async function booleanFlag(k: string, extra: Record<string, unknown> = {}) {
  return (await ops()).create({
    key: k,
    description: 'test flag',
    kind: 'boolean',
    owner: 'team-a',
    ...extra,
  });
}

describe('administration', () => {
  it('creates, lists and updates flags; staff only', async () => {
    const k = key('new-editor');
    const created = await booleanFlag(k, { expectedRemovalAt: new Date('2020-01-01') });
    expect(created).toMatchObject({
      key: k,
      kind: 'boolean',
      variants: { on: true, off: false },
      defaultVariant: 'off',
      onVariant: 'on',
      enabled: false,
      rolloutPercentage: 0,
      killed: false,
      stale: true,
      version: 1,
    });
    const updated = await (await ops()).update({ key: k, rolloutPercentage: 12.5, description: 'changed' });
    expect(updated).toMatchObject({ rolloutPercentage: 12.5, description: 'changed', version: 2 });
    expect((await (await ops()).list()).find((f) => f.key === k)).toMatchObject({ rolloutPercentage: 12.5 });

    const member = await callerAs(env.deps, org.owner);
    await expect(member.ops.flags.list()).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('refuses bad input with field errors, and a duplicate key', async () => {
    const o = await ops();
    const k = key('dup');
    await booleanFlag(k);
    await expect(booleanFlag(k)).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(
      o.create({ key: 'Bad Key', description: 'x', kind: 'boolean', owner: 'a' }),
    ).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(
      o.create({ key: key('v'), description: 'x', kind: 'variant', owner: 'a', defaultVariant: 'a' }),
    ).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/variants/) });
    await expect(
      o.create({
        key: key('v'),
        description: 'x',
        kind: 'variant',
        owner: 'a',
        variants: { blue: '#00f', red: '#f00' },
        defaultVariant: 'blue',
        onVariant: 'green',
      }),
    ).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/onVariant/) });
    await expect(o.update({ key: k, rolloutPercentage: 101 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(o.update({ key: key('missing'), enabled: true })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await expect(o.setOverride({ key: k, organizationId: org.id, variant: 'purple' })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    await expect(
      o.setOverride({ key: k, organizationId: synthetic(1), variant: 'on' }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('evaluation', () => {
  it('over 10,000 organizations a 25 % rollout enables 25 % ± 1.5 %, and 50 % keeps every one of them', async () => {
    const k = key('rollout');
    await booleanFlag(k, { rolloutPercentage: 25 });
    const ids = Array.from({ length: 10_000 }, (_, i) => synthetic(i));
    const at25 = new Set<string>();
    for (const id of ids) if ((await env.deps.flags.evaluate(k, id))?.value === true) at25.add(id);
    expect(at25.size / ids.length).toBeGreaterThanOrEqual(0.235);
    expect(at25.size / ids.length).toBeLessThanOrEqual(0.265);

    await (await ops()).update({ key: k, rolloutPercentage: 50 });
    let at50 = 0;
    for (const id of ids) {
      const on = (await env.deps.flags.evaluate(k, id))?.value === true;
      if (on) at50++;
      if (at25.has(id)) expect(on).toBe(true);
    }
    expect(at50 / ids.length).toBeGreaterThanOrEqual(0.485);
    expect(at50 / ids.length).toBeLessThanOrEqual(0.515);
  });

  it('kill switch beats override beats rollout beats global beats default', async () => {
    const o = await ops();
    const k = key('order');
    await o.create({
      key: k,
      description: 'theme',
      kind: 'variant',
      owner: 'design',
      variants: { classic: { color: 'grey' }, fresh: { color: 'teal' }, bold: { color: 'red' } },
      defaultVariant: 'classic',
      onVariant: 'fresh',
    });
    const evalOrg = async () =>
      (await callerAs(env.deps, org.owner)).flags.evaluateAll().then((all) => all[k]);
    expect(await evalOrg()).toEqual({ value: { color: 'grey' }, variant: 'classic', reason: 'DEFAULT' });
    await o.update({ key: k, enabled: true });
    expect(await evalOrg()).toMatchObject({ variant: 'fresh', reason: 'GLOBAL' });
    await o.update({ key: k, enabled: false, rolloutPercentage: 100 });
    expect(await evalOrg()).toMatchObject({ variant: 'fresh', reason: 'ROLLOUT' });
    await o.setOverride({ key: k, organizationId: org.id, variant: 'bold' });
    expect(await evalOrg()).toEqual({ value: { color: 'red' }, variant: 'bold', reason: 'OVERRIDE' });
    await o.kill({ key: k, killed: true });
    expect(await evalOrg()).toMatchObject({ variant: 'classic', reason: 'KILLED' });
    await o.kill({ key: k, killed: false });
    await o.setOverride({ key: k, organizationId: org.id, variant: null });
    expect(await evalOrg()).toMatchObject({ variant: 'fresh', reason: 'ROLLOUT' });
    // Another organization never sees this organization's override.
    const other = await createOrg(env.deps);
    await o.setOverride({ key: k, organizationId: other.id, variant: 'bold' });
    expect(await evalOrg()).toMatchObject({ variant: 'fresh' });
    expect((await o.list()).find((f) => f.key === k)?.overrides).toBe(1);
    const audited = await withDbScope(env.deps.em, undefined, (em) =>
      em.find(OpsAudit, { targetType: 'flag', targetId: k }, { orderBy: { id: 'asc' } }),
    );
    expect(audited.map((r) => [r.action, r.operatorId])).toEqual([
      ['flag.create', staff.id],
      ['flag.update', staff.id],
      ['flag.update', staff.id],
      ['flag.setOverride', staff.id],
      ['flag.kill', staff.id],
      ['flag.kill', staff.id],
      ['flag.setOverride', staff.id],
      ['flag.setOverride', staff.id],
    ]);
  });

  it('an unknown flag gives the default, never an exception', async () => {
    expect(await env.deps.flags.evaluate('no-such-flag', org.id)).toBeNull();
    await OpenFeature.setProviderAndWait(new KeelFlagProvider(env.deps.flags));
    const client = OpenFeature.getClient();
    const details = await client.getBooleanDetails('no-such-flag', true, { targetingKey: org.id });
    expect(details).toMatchObject({ value: true, errorCode: 'FLAG_NOT_FOUND' });
  });

  it('the OpenFeature provider serves Keel flags, with type checks', async () => {
    const k = key('of');
    await booleanFlag(k, { enabled: true });
    await OpenFeature.setProviderAndWait(new KeelFlagProvider(env.deps.flags));
    const client = OpenFeature.getClient();
    expect(await client.getBooleanValue(k, false, { targetingKey: org.id })).toBe(true);
    expect(await client.getStringDetails(k, 'x', { targetingKey: org.id })).toMatchObject({
      value: 'x',
      errorCode: 'TYPE_MISMATCH',
    });
    await (await ops()).kill({ key: k, killed: true });
    expect(await client.getBooleanDetails(k, true, { targetingKey: org.id })).toMatchObject({
      value: false,
      reason: 'DISABLED',
    });
    await OpenFeature.close();
  });

  it('the bucket is deterministic and differs between flags', () => {
    expect(rolloutBucket('a', org.id)).toBe(rolloutBucket('a', org.id));
    const ids = Array.from({ length: 200 }, (_, i) => synthetic(i));
    const same = ids.filter(
      (id) => rolloutBucket('flag-a', id) < 5000 === rolloutBucket('flag-b', id) < 5000,
    );
    expect(same.length).toBeLessThan(150);
  });
});

describe('audit log', () => {
  it('records who changed what, before and after, and cannot be rewritten', async () => {
    const o = await ops();
    const k = key('audited');
    await booleanFlag(k);
    await o.update({ key: k, enabled: true });
    await o.setOverride({ key: k, organizationId: org.id, variant: 'off' });
    await o.kill({ key: k, killed: true });
    const log = await o.audit({ key: k });
    expect(log.total).toBe(4);
    expect(log.items.map((i) => i.action)).toEqual(['killed', 'override.set', 'updated', 'created']);
    expect(log.items.every((i) => i.actorId === staff.id && i.actorEmail === staff.email)).toBe(true);
    expect(log.items[1]).toMatchObject({ organizationId: org.id, before: null, after: { variant: 'off' } });
    expect(log.items[2]).toMatchObject({ before: { enabled: false }, after: { enabled: true } });
    await expect(
      withDbScope(env.deps.em, undefined, (em) =>
        em.nativeUpdate(FlagAudit, { flagKey: k }, { action: 'forged' }),
      ),
    ).rejects.toThrow(/append-only/);
    await expect(
      withDbScope(env.deps.em, undefined, (em) => em.nativeDelete(FlagAudit, { flagKey: k })),
    ).rejects.toThrow(/append-only/);
  });
});

describe('changes reach every process', () => {
  it('another process evaluates the new value as soon as the change returns, and subscribers are told', async () => {
    const second = await createTestEnv({ KEY_PREFIX: env.config.keyPrefix });
    try {
      const k = key('spread');
      await booleanFlag(k);
      // The second process holds the compiled set in memory.
      expect((await second.deps.flags.evaluateAll(org.id))[k]?.value).toBe(false);

      const updates = (await callerAs(second.deps, org.owner)).flags.onChange();
      const iterator = (await updates)[Symbol.asyncIterator]();
      // A caller sees tracked() events as [id, data] tuples.
      const data = (r: IteratorResult<unknown>) => (r.value as [string, unknown])[1];
      expect(data(await iterator.next())).toMatchObject({ keys: [], flags: { [k]: { value: false } } });

      await (await ops()).update({ key: k, enabled: true });
      expect((await second.deps.flags.evaluateAll(org.id))[k]?.value).toBe(true);
      expect(data(await iterator.next())).toMatchObject({
        keys: [k],
        flags: { [k]: { value: true, reason: 'GLOBAL' } },
      });
      await iterator.return?.();
    } finally {
      await second.deps.close();
    }
  });
});
