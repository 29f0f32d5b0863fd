import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeps } from '../../deps.ts';
import type { AppDeps } from '../../app-deps.ts';
import { withDbScope } from '../../platform/db/context.ts';
import { Worker } from '../../platform/queue/worker.ts';
import { failureCode } from '../../test/errors.ts';
import { addMember, callerAs, createOrg, createStaff, tokenFor, type TestOrg } from '../../test/factories.ts';
import {
  createTestEnv,
  LIFTED_LIMITS,
  startServer,
  type RunningServer,
  type TestEnv,
} from '../../test/harness.ts';
import { sendRaw, trpcErrorOf } from '../../test/http.ts';
import { DataExport } from '../exports/export.entity.ts';
import { Organization } from '../tenancy/organization.entity.ts';
import { Schedule } from './schedule.entity.ts';
import { fireDueSchedules, runMarkerKey, type FireResult } from './schedules.fire.ts';

let env: TestEnv;
let second: AppDeps;
let server: RunningServer;
let dir: string;
let a: TestOrg;
let b: TestOrg;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'keel-schedules-'));
  env = await createTestEnv({ STORAGE_LOCAL_DIR: dir });
  // A second process's services on the same database and Redis prefix: the other leader of a race.
  second = await createDeps(env.config, { rateLimitPolicies: LIFTED_LIMITS });
  server = await startServer(env.deps);
  a = await createOrg(env.deps, 'Schedules A');
  b = await createOrg(env.deps, 'Schedules B');
}, 60_000);
afterAll(async () => {
  await server?.close();
  await second?.close();
  await env?.close();
  await rm(dir, { recursive: true, force: true });
});

const fire = (deps: AppDeps, now: Date, batch?: number) =>
  fireDueSchedules({ ...deps, redis: deps.redis.get('queue') }, now, batch ? { batch } : {});

const row = (orgId: string, id: string) =>
  withDbScope(env.deps.em, orgId, (em) => em.findOneOrFail(Schedule, { id }, { refresh: true }));

const setNextRun = (orgId: string, id: string, at: Date) =>
  withDbScope(env.deps.em, orgId, (em) => em.nativeUpdate(Schedule, { id }, { nextRunAt: at }));

/** Jobs queued for a schedule and not yet run: the `low` queue's waiting jobs (organizations' lists included). */
async function queuedRuns(scheduleId: string): Promise<number> {
  const { items } = await env.deps.queue.index.waiting('low', { offset: 0, limit: 10_000 });
  return items.filter((j) => j.tags.includes(`schedule:${scheduleId}`)).length;
}

const sum = (results: FireResult[], k: keyof FireResult) => results.reduce((n, r) => n + r[k], 0);

describe('schedules through the API', () => {
  it('an owner creates, lists, pauses, resumes and removes a schedule in the organization’s time zone', async () => {
    await withDbScope(env.deps.em, undefined, async (em) => {
      const org = await em.findOneOrFail(Organization, { id: a.id });
      org.settings = { ...org.settings, timezone: 'Europe/Berlin' };
      await em.flush();
    });
    const owner = await callerAs(env.deps, a.owner);
    const made = await owner.schedules.create({
      job: 'exports.scheduled',
      schedule: 'weekly at 09:00 on Monday',
      payload: { lastDays: 7 },
    });
    expect(made).toMatchObject({ cron: '0 9 * * 1', timeZone: 'Europe/Berlin', paused: false });
    expect(made.createdBy).toBe(a.owner.id);
    // 09:00 in Berlin is 07:00 or 08:00 UTC, on a Monday.
    expect(made.nextRunAt!.getUTCDay()).toBe(1);
    expect([7, 8]).toContain(made.nextRunAt!.getUTCHours());

    const list = await owner.schedules.list();
    expect(list.items.map((s) => s.id)).toContain(made.id);
    expect(list.limit).toBe(5);

    const paused = await owner.schedules.setPaused({ id: made.id, paused: true });
    expect(paused).toMatchObject({ paused: true, nextRunAt: null });
    const resumed = await owner.schedules.setPaused({ id: made.id, paused: false });
    expect(resumed.nextRunAt).toEqual(made.nextRunAt);

    await owner.schedules.remove({ id: made.id });
    expect((await owner.schedules.list()).items.map((s) => s.id)).not.toContain(made.id);
    expect(await failureCode(owner.schedules.get({ id: made.id }))).toBe('NOT_FOUND');
  });

  it('another organization cannot see, pause or remove a schedule: NOT_FOUND, and the row is untouched', async () => {
    const ownerA = await callerAs(env.deps, a.owner);
    const ownerB = await callerAs(env.deps, b.owner);
    const s = await ownerA.schedules.create({
      job: 'exports.scheduled',
      schedule: '0 6 * * *',
      timeZone: 'UTC',
      payload: { lastDays: 1 },
    });
    expect((await ownerB.schedules.list()).items.map((x) => x.id)).not.toContain(s.id);
    expect(await failureCode(ownerB.schedules.get({ id: s.id }))).toBe('NOT_FOUND');
    expect(await failureCode(ownerB.schedules.setPaused({ id: s.id, paused: true }))).toBe('NOT_FOUND');
    expect(await failureCode(ownerB.schedules.remove({ id: s.id }))).toBe('NOT_FOUND');
    expect((await row(a.id, s.id)).paused).toBe(false);
    // Row-level security as well as the ORM filter: raw SQL in B's scope reads none of A's schedules.
    const seenByB = await withDbScope(env.deps.em, b.id, (em) =>
      em.execute<{ organization_id: string }[]>('select organization_id from schedules'),
    );
    expect(seenByB.filter((r) => r.organization_id !== b.id)).toEqual([]);
    await ownerA.schedules.remove({ id: s.id });
  });

  it('staff list one organization’s schedules in the console; a tenant owner cannot', async () => {
    const org = await createOrg(env.deps, 'Schedules Ops');
    const made = await (
      await callerAs(env.deps, org.owner)
    ).schedules.create({ job: 'exports.scheduled', schedule: 'daily at 06:00', payload: { lastDays: 1 } });
    const staff = await callerAs(env.deps, await createStaff(env.deps));
    const page = await staff.ops.tenants.schedules({ id: org.id });
    expect(page.total).toBe(1);
    expect(page.items[0]).toMatchObject({ id: made.id, job: 'exports.scheduled', cron: '0 6 * * *' });
    expect((await staff.ops.tenants.schedules({ id: b.id })).items.map((x) => x.id)).not.toContain(made.id);
    expect(
      await failureCode((await callerAs(env.deps, org.owner)).ops.tenants.schedules({ id: org.id })),
    ).toBe('STAFF_ONLY');
  });

  it('a member reads schedules but cannot change them (settings:manage)', async () => {
    const member = await callerAs(env.deps, await addMember(env.deps, a.id, 'member'));
    await member.schedules.list();
    expect(
      await failureCode(
        member.schedules.create({
          job: 'exports.scheduled',
          schedule: 'daily at 07:00',
          payload: { lastDays: 1 },
        }),
      ),
    ).toBe('ABILITY_MISSING');
  });

  it('the plan’s limit of schedules is a typed CONFLICT, also for requests racing', async () => {
    const org = await createOrg(env.deps, 'Schedules Limit');
    const owner = await callerAs(env.deps, org.owner);
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        owner.schedules.create({
          job: 'exports.scheduled',
          schedule: `daily at 0${i}:00`,
          payload: { lastDays: 1 },
        }),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    for (const r of results.filter((x) => x.status === 'rejected')) {
      expect(await failureCode(Promise.reject(r.reason))).toBe('CONFLICT');
    }
    expect((await owner.schedules.list()).items).toHaveLength(5);
  });

  it('malformed cron, time zone, payload or job are 400s with field errors, never a 500', async () => {
    const token = await tokenFor(env.deps, b.id, b.owner, ['read', 'settings:manage']);
    const create = (input: object) =>
      sendRaw(server.url, 'POST', '/trpc/schedules.create', {
        body: JSON.stringify({ json: input }),
        headers: { authorization: `Bearer ${token}` },
      });
    const good = { job: 'exports.scheduled', schedule: '0 9 * * 1', payload: { lastDays: 7 } };
    for (const [input, field] of [
      [{ ...good, schedule: '61 * * * *' }, 'schedule'],
      [{ ...good, schedule: '* * * * * *' }, 'schedule'],
      [{ ...good, schedule: '* * * * *' }, 'schedule'],
      [{ ...good, schedule: 'whenever you like' }, 'schedule'],
      [{ ...good, timeZone: 'Mars/Olympus_Mons' }, 'timeZone'],
      [{ ...good, payload: { lastDays: 'seven' } }, 'payload.lastDays'],
      [{ ...good, payload: { lastDays: 7, extra: true } }, 'payload'],
      [{ ...good, payload: { lastDays: 7, statuses: ['nope'] } }, 'payload.statuses.0'],
      [{ ...good, job: 'exports.run' }, 'job'],
      [{ ...good, payload: { lastDays: 7, pad: 'x'.repeat(9_000) } }, 'payload'],
    ] as const) {
      const res = await create(input);
      expect(res.status, `${JSON.stringify(input).slice(0, 100)}: ${res.text}`).toBe(400);
      const error = trpcErrorOf(res);
      expect(error?.data.appCode).toBe('VALIDATION_FAILED');
      expect(Object.keys(error?.data.fieldErrors ?? {}), res.text).toContain(field);
    }
    expect((await create(good)).status).toBe(200);
  });
});

describe('firing schedules', () => {
  async function dueSchedule(org: TestOrg, schedule = 'hourly at :00') {
    const owner = await callerAs(env.deps, org.owner);
    const s = await owner.schedules.create({
      job: 'exports.scheduled',
      schedule,
      timeZone: 'UTC',
      payload: { lastDays: 30 },
    });
    const due = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000);
    await setNextRun(org.id, s.id, due);
    return { id: s.id, due };
  }

  it('a due run is queued exactly once with two leaders racing and the tick replayed', async () => {
    const org = await createOrg(env.deps, 'Schedules Race');
    const { id, due } = await dueSchedule(org);
    const now = new Date();
    const results = await Promise.all([fire(env.deps, now), fire(second, now), fire(env.deps, now)]);
    expect(results.map((r) => r.failed)).toEqual([0, 0, 0]);
    expect(sum(results, 'dispatched')).toBe(1);
    expect(await queuedRuns(id)).toBe(1);
    const after = await row(org.id, id);
    expect(after.lastRunAt).toEqual(due);
    expect(after.lastJobId).toBeTruthy();
    expect(after.nextRunAt!.getTime()).toBeGreaterThan(now.getTime());

    // A tick replayed after a crash between queueing and the update: the run's marker stops a second job, and the
    // schedule still moves on.
    await setNextRun(org.id, id, due);
    const replay = await Promise.all([fire(second, now), fire(env.deps, now)]);
    expect(sum(replay, 'dispatched')).toBe(0);
    expect(await queuedRuns(id)).toBe(1);
    expect((await row(org.id, id)).nextRunAt).toEqual(after.nextRunAt);
  });

  it('a run another process is queueing is left to it; a claim whose process died is given up, never queued twice', async () => {
    const org = await createOrg(env.deps, 'Schedules Claims');
    const { id, due } = await dueSchedule(org);
    const redis = env.deps.redis.get('queue');
    const marker = runMarkerKey(env.config.keyPrefix, id, due);
    await redis.set(marker, `claimed:${Date.now()}`);
    const busy = await fire(env.deps, new Date());
    expect(busy.dispatched).toBe(0);
    expect((await row(org.id, id)).nextRunAt).toEqual(due);

    await redis.set(marker, `claimed:${Date.now() - 10 * 60_000}`);
    const given = await fire(env.deps, new Date());
    expect(given.lost).toBeGreaterThanOrEqual(1);
    const after = await row(org.id, id);
    expect(after.lastError).toMatch(/lost/);
    expect(after.nextRunAt!.getTime()).toBeGreaterThan(Date.now() - 1_000);
    expect(await queuedRuns(id)).toBe(0);
  });

  it('after downtime the missed runs make one run, not one per missed time; paused schedules do not run', async () => {
    const org = await createOrg(env.deps, 'Schedules Downtime');
    const { id } = await dueSchedule(org);
    await setNextRun(org.id, id, new Date(Date.now() - 5 * 3_600_000));
    const paused = await dueSchedule(org, 'hourly at :30');
    await (await callerAs(env.deps, org.owner)).schedules.setPaused({ id: paused.id, paused: true });

    const now = new Date();
    const first = await fire(env.deps, now);
    const again = await fire(env.deps, new Date(now.getTime() + 1_000));
    expect(first.failed + again.failed).toBe(0);
    expect(await queuedRuns(id)).toBe(1);
    expect(await queuedRuns(paused.id)).toBe(0);
    expect((await row(org.id, id)).nextRunAt!.getTime()).toBeGreaterThan(now.getTime());
  });

  it('a tick queues every due schedule, page after page, also past one another process is still queueing', async () => {
    const org = await createOrg(env.deps, 'Schedules Many');
    await withDbScope(env.deps.em, undefined, (em) =>
      em.nativeUpdate(Organization, { id: org.id }, { tier: 'professional' }),
    );
    const made = [];
    for (let i = 0; i < 7; i++)
      made.push(await dueSchedule(org, `hourly at :${String(i * 5).padStart(2, '0')}`));
    // The first in line is being queued by another process: this tick must go past it, not stop or spin on it.
    const busy = made[0]!;
    await env.deps.redis
      .get('queue')
      .set(runMarkerKey(env.config.keyPrefix, busy.id, busy.due), `claimed:${Date.now()}`);
    await fire(env.deps, new Date(), 3);
    expect(await queuedRuns(busy.id)).toBe(0);
    for (const s of made.slice(1)) expect(await queuedRuns(s.id), s.id).toBe(1);
  });

  it('a suspended organization’s schedules wait, and run once when it is reactivated', async () => {
    const org = await createOrg(env.deps, 'Schedules Suspended');
    const { id } = await dueSchedule(org);
    const setActive = (active: boolean) =>
      withDbScope(env.deps.em, undefined, (em) => em.nativeUpdate(Organization, { id: org.id }, { active }));
    await setActive(false);
    await fire(env.deps, new Date());
    expect(await queuedRuns(id)).toBe(0);
    await setActive(true);
    await fire(env.deps, new Date());
    expect(await queuedRuns(id)).toBe(1);
  });

  it('a stored payload the job now refuses is recorded on the schedule, which moves on', async () => {
    const org = await createOrg(env.deps, 'Schedules Refused');
    const { id } = await dueSchedule(org);
    await withDbScope(env.deps.em, org.id, (em) =>
      em.nativeUpdate(Schedule, { id }, { payload: { lastDays: 'a week' } }),
    );
    const r = await fire(env.deps, new Date());
    expect(r.refused).toBeGreaterThanOrEqual(1);
    const after = await row(org.id, id);
    expect(after.lastError).toMatch(/Invalid payload/);
    expect(after.nextRunAt!.getTime()).toBeGreaterThan(Date.now() - 1_000);
    expect(await queuedRuns(id)).toBe(0);
  });

  it('a queued run does its job: the scheduled export is made for the schedule’s organization', async () => {
    const org = await createOrg(env.deps, 'Schedules Export');
    await dueSchedule(org);
    await fire(env.deps, new Date());
    const worker = new Worker(env.deps.queue, { queues: ['high', 'default', 'low'], concurrency: 2 });
    await worker.start();
    try {
      const end = Date.now() + 60_000;
      let done: { status: string; requestedBy: unknown } | null = null;
      while (!done && Date.now() < end) {
        done = await withDbScope(env.deps.em, org.id, (em) =>
          em.findOne(DataExport, { status: 'completed' }, { refresh: true }),
        );
        if (!done) await new Promise((r) => setTimeout(r, 100));
      }
      expect(done).toMatchObject({ status: 'completed' });
      expect(done?.requestedBy ?? null).toBeNull();
    } finally {
      await worker.stop(2_000);
    }
  });
});
