import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, inject } from 'vitest';
import { z } from 'zod';
import { TEST_REDIS_URL } from '../../test/env.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { until } from '../../test/until.ts';
import { defineJob } from './definition.ts';
import { fixtureRegistry, tenantJob } from './fixtures/jobs.ts';
import { takePlan } from './fairness.ts';
import { JobRegistry } from './registry.ts';
import { scripts } from './scripts.ts';
import { queueSettingsFor } from './settings.ts';
import { decodeJob } from './store.ts';
import { QueueSystem } from './system.ts';
import { Worker } from './worker.ts';

// Fairness between organizations within a queue (ADR 0024), on real Redis: a tenant's burst does not hold another
// tenant's jobs back, and each organization's cap of running jobs holds across worker processes.

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const script = path.join(here, 'fixtures/worker.ts');

let env: TestEnv;
let n = 0;
const cleanups: (() => Promise<void>)[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  env = await createTestEnv();
});
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  while (cleanups.length) await cleanups.pop()!();
});
afterAll(() => env.close());

function system(registry: JobRegistry, keyPrefix = `${env.config.keyPrefix}fair${++n}:`): QueueSystem {
  const s = new QueueSystem({
    config: { ...env.config, keyPrefix },
    redis: env.deps.redis.get('queue'),
    em: env.deps.em,
    logger: env.deps.logger,
    registry,
    settings: queueSettingsFor('test'),
  });
  cleanups.push(() => s.close());
  return s;
}

/** A real worker process (fixtures/worker.ts) on the test's database and the given key prefix. */
async function startWorker(keyPrefix: string, concurrency: number): Promise<ChildProcess> {
  const overrides = {
    NODE_ENV: 'test',
    DATABASE_URL: inject('databaseUrl'),
    REDIS_URL: TEST_REDIS_URL,
    KEY_PREFIX: keyPrefix,
    LOG_LEVEL: 'error',
    DB_POOL_MAX: '2',
  };
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', script, JSON.stringify(overrides), String(concurrency), '1000'],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(proc);
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    proc.once('exit', (code) => reject(new Error(`worker exited (${code}) before ready: ${stderr}`)));
  });
  return proc;
}

describe('fairness between organizations', () => {
  it('A queues 10,000 jobs, then B queues 10: every B job starts before A has started 100 more', async () => {
    const starts: string[] = [];
    const job = defineJob({
      name: 'fair.noop',
      payload: z.object({}),
      handle: (_p, ctx) => void starts.push(ctx.organizationId ?? 'none'),
    });
    const s = system(new JobRegistry().register(job));
    const w = new Worker(s, { queues: ['default'], concurrency: 10 });
    await w.start();
    cleanups.push(() => w.stop(1_000));
    const [a, b] = [randomUUID(), randomUUID()];
    for (let i = 0; i < 10; i++) {
      await s.dispatchMany(
        Array.from({ length: 1_000 }, () => ({ job, payload: {} })),
        { organizationId: a },
      );
    }
    // Start order from here on: B's jobs are queued behind A's whole backlog.
    const mark = starts.length;
    await s.dispatchMany(
      Array.from({ length: 10 }, () => ({ job, payload: {} })),
      { organizationId: b },
    );
    await until(() => starts.filter((o) => o === b).length === 10, "B's ten jobs to start", 60_000);
    const lastB = starts.lastIndexOf(b);
    const aMeanwhile = starts.slice(mark, lastB + 1).filter((o) => o === a).length;
    expect(aMeanwhile).toBeLessThan(100);
    // A still had a backlog when B's last job started: B did not just come after A's burst.
    expect(starts.slice(0, lastB + 1).filter((o) => o === a).length).toBeLessThan(10_000 - 100);
    await until(() => starts.length === 10_010, 'every job to start', 120_000);
    await until(async () => (await s.redis.hlen(s.keys.store('default').running)) === 0, 'no slot held');
  });

  it('serves organizations in turn by plan weight, with one turn for jobs without an organization, one job per take', async () => {
    const job = defineJob({ name: 'fair.idle', payload: z.object({}), handle: () => {} });
    const s = system(new JobRegistry().register(job));
    const [big, small] = [randomUUID(), randomUUID()];
    await s.setOrganizationTiers([[big, 'enterprise']]);
    const spec = { job, payload: {} };
    await s.dispatchMany(
      Array.from({ length: 20 }, () => spec),
      { organizationId: big },
    );
    await s.dispatchMany(
      Array.from({ length: 20 }, () => spec),
      { organizationId: small },
    );
    await s.dispatchMany(
      Array.from({ length: 20 }, () => spec),
      { organizationId: null },
    );
    const k = s.keys.store('default');
    const names = new Map<string, string>([
      [big, 'E'],
      [small, 'F'],
    ]);
    const order: string[] = [];
    // No worker: the take script itself, one job per call, as slots freed one at a time ask.
    for (let i = 0; i < 15; i++) {
      const [id, raw] = (await scripts.fetch(
        s.redis,
        [k.waiting, k.active, k.jobs, k.stalling, k.orgs, k.running, k.tiers, k.turn, k.orgOf, k.capped],
        [1, k.orgWaiting, ...takePlan(s.settings.fairness, 'default')],
      )) as [string, string];
      order.push(names.get(decodeJob(id, raw).data.org ?? '') ?? 'P');
    }
    const { enterprise, free } = s.settings.fairness.tiers;
    expect([enterprise.weight, free.weight]).toEqual([3, 1]);
    expect(order.join('')).toBe('EEEFPEEEFPEEEFP');
    expect(await s.redis.hgetall(k.running)).toEqual({ [big]: '9', [small]: '3' });
  });

  it('a running count left wrong (a worker killed mid-job) is recounted by the stall checker: no slot leaks', async () => {
    const ran: string[] = [];
    const job = defineJob({
      name: 'fair.leak',
      payload: z.object({}),
      handle: (_p, ctx) => void ran.push(ctx.id),
    });
    const s = system(new JobRegistry().register(job));
    const org = randomUUID();
    const k = s.keys.store('default');
    const ids = await s.dispatchMany(
      [1, 2, 3].map(() => ({ job, payload: {} })),
      { organizationId: org },
    );
    // As if jobs taken by a process that died had vanished from `active` while still counted: the cap is full.
    await s.redis.hset(k.running, org, s.settings.fairness.tiers.free.cap);
    const w = new Worker(s, { queues: ['default'], concurrency: 2 });
    await w.start();
    cleanups.push(() => w.stop(1_000));
    await until(() => ran.length === 3, 'the organization to get its slots back');
    expect(ran.sort()).toEqual([...ids].sort());
    await until(async () => (await s.redis.hlen(k.running)) === 0, 'the count to drop to nothing');
  });

  it("each organization's cap of running jobs holds across two worker processes", async () => {
    const keyPrefix = `${env.config.keyPrefix}fair${++n}:`;
    const s = system(fixtureRegistry(), keyPrefix);
    const [free, pro] = [randomUUID(), randomUUID()];
    await s.setOrganizationTiers([[pro, 'professional']]);
    const caps = s.settings.fairness.tiers;
    await Promise.all([startWorker(keyPrefix, 20), startWorker(keyPrefix, 20)]);
    // 40 slots between the two workers: more than either cap, so only the caps keep each tenant down.
    const spec = { job: tenantJob, payload: { holdMs: 150 } };
    await s.dispatchMany(
      Array.from({ length: 60 }, () => spec),
      { organizationId: free },
    );
    await s.dispatchMany(
      Array.from({ length: 100 }, () => spec),
      { organizationId: pro },
    );
    const events = `${keyPrefix}fx:events`;
    await until(async () => (await s.redis.llen(events)) === 2 * 160, 'every job to end', 60_000);
    // Replay the starts and ends: how many of each organization ran at once, at most.
    const running = new Map<string, number>();
    const most = new Map<string, number>();
    for (const e of await s.redis.lrange(events, 0, -1)) {
      const org = e.slice(1);
      const now = (running.get(org) ?? 0) + (e.startsWith('+') ? 1 : -1);
      running.set(org, now);
      most.set(org, Math.max(most.get(org) ?? 0, now));
    }
    expect(most.get(free)).toBeLessThanOrEqual(caps.free.cap);
    expect(most.get(pro)).toBeLessThanOrEqual(caps.professional.cap);
    // The caps are what bound them (both tenants reached theirs), and the paid tier's is the larger.
    expect(most.get(free)).toBe(caps.free.cap);
    expect(most.get(pro)).toBe(caps.professional.cap);
    const load = await s.organizationLoad('default');
    expect(load.every((l) => l.waiting === 0)).toBe(true);
    await until(async () => (await s.redis.hlen(s.keys.store('default').running)) === 0, 'no slot held');
  });
});
