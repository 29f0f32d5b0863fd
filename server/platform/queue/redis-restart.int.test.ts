import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DataExport } from '../../modules/exports/export.entity.ts';
import {
  createBillingTestEnv,
  deliver,
  storedEvent,
  until,
  type BillingTestEnv,
} from '../../modules/billing/testing/harness.ts';
import { callerAs, createOrg } from '../../test/factories.ts';
import { freePort, startRedis, stopRedis } from '../../test/own-redis.ts';
import { withDbScope } from '../db/context.ts';
import { defineJob } from './definition.ts';
import { Worker } from './worker.ts';

// Issue 18.2: bee-queue loads its Lua scripts once per process and then only sends EVALSHA, so after a Redis
// restart (empty, or with its data from the AOF) or a SCRIPT FLUSH every dispatch answered NOSCRIPT until the process
// restarted, and delayed jobs were never raised again. Here one Keel (API + workers, in this process) keeps running
// on a private redis-server that is flushed and restarted under it, with dispatches going on meanwhile.

let port: number;
let aofDir: string;
let storageDir: string;
let redis: ChildProcess;
let t: BillingTestEnv;
let worker: Worker;
let probe: Redis;
const ran = (id: string) => `${t.env.config.keyPrefix}test:ran:${id}`;

const ping = defineJob({
  name: 'test.restart.ping',
  queue: 'default',
  payload: z.object({ id: z.string() }).strict(),
  handle: async ({ id }, ctx) => {
    await ctx.redis.incr(ran(id));
  },
});

const aof = () => ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', aofDir];

beforeAll(async () => {
  port = await freePort();
  aofDir = await mkdtemp(path.join(os.tmpdir(), 'keel-redis-aof-'));
  storageDir = await mkdtemp(path.join(os.tmpdir(), 'keel-restart-files-'));
  redis = await startRedis(port, aof());
  t = await createBillingTestEnv({ REDIS_URL: `redis://127.0.0.1:${port}`, STORAGE_LOCAL_DIR: storageDir });
  t.deps.queue.registry.register(ping);
  worker = new Worker(t.deps.queue, { queues: ['high', 'default', 'low'], concurrency: 2 });
  await worker.start();
  probe = new Redis({ port, maxRetriesPerRequest: null, retryStrategy: () => 50 });
  probe.on('error', () => undefined);
}, 60_000);

afterAll(async () => {
  await worker?.stop(1_000);
  await t?.close();
  probe?.disconnect();
  if (redis) await stopRedis(redis);
  await rm(aofDir, { recursive: true, force: true });
  await rm(storageDir, { recursive: true, force: true });
});

async function restart(keepData: boolean): Promise<void> {
  await stopRedis(redis);
  if (!keepData) await rm(path.join(aofDir, 'appendonlydir'), { recursive: true, force: true });
  redis = await startRedis(port, aof());
}

/** A delayed job and a plain one, each run exactly once. */
async function jobsRun(): Promise<void> {
  const now = randomUUID();
  const later = randomUUID();
  await t.deps.queue.dispatch(ping, { id: now }, { organizationId: null });
  await t.deps.queue.dispatch(ping, { id: later }, { organizationId: null, delayMs: 300 });
  await until(async () => (await probe.get(ran(now))) === '1', `job ${now}`);
  await until(async () => (await probe.get(ran(later))) === '1', `delayed job ${later}`);
}

/** exports.request answers and the export completes. */
async function exportCompletes(): Promise<void> {
  const org = await createOrg(t.deps);
  const caller = await callerAs(t.deps, org.owner);
  const { export: ex } = await caller.exports.request({});
  const done = await until(
    () =>
      withDbScope(t.deps.em, org.id, async (em) => {
        const row = await em.findOneOrFail(DataExport, { id: ex.id }, { refresh: true });
        return row.status === 'queued' || row.status === 'running' ? null : row;
      }),
    `export ${ex.id}`,
    30_000,
  );
  expect(done.status).toBe('completed');
}

/** The Stripe webhook endpoint answers 200 and the event is processed. */
async function webhookProcessed(): Promise<void> {
  const event = {
    id: `evt_${randomUUID().replaceAll('-', '')}`,
    object: 'event',
    type: 'keel.test.ping',
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    data: { object: {} },
  };
  const res = await deliver(t.server.url, event);
  expect(res.status).toBe(200);
  await until(async () => (await storedEvent(t.deps, event.id))?.processedAt, `event ${event.id}`);
}

async function everythingWorks(): Promise<void> {
  await jobsRun();
  await exportCompletes();
  await webhookProcessed();
}

/**
 * Dispatches a job every 20 ms while `during` runs (failures while Redis is down are expected and counted), then
 * checks that every dispatch accepted after `during` ran exactly once.
 */
async function underTraffic(during: () => Promise<void>): Promise<void> {
  let stop = false;
  let afterwards = false;
  const accepted: string[] = [];
  const refused: string[] = [];
  const loop = (async () => {
    while (!stop) {
      const id = randomUUID();
      const ok = await t.deps.queue.dispatch(ping, { id }, { organizationId: null }).then(
        () => true,
        () => false,
      );
      if (afterwards) (ok ? accepted : refused).push(id);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await during();
  // Redis answers again: from now on every dispatch must succeed.
  await until(async () => (await probe.ping().catch(() => null)) === 'PONG', 'redis back');
  await t.deps.queue.dispatch(ping, { id: randomUUID() }, { organizationId: null }).catch(() => undefined);
  afterwards = true;
  await new Promise((r) => setTimeout(r, 500));
  stop = true;
  await loop;
  expect(refused).toEqual([]);
  expect(accepted.length).toBeGreaterThan(5);
  for (const id of accepted) await until(async () => (await probe.get(ran(id))) === '1', `job ${id}`);
}

describe('Redis loses its script cache under a running Keel', () => {
  it('works before anything happens', async () => {
    await everythingWorks();
  });

  it('SCRIPT FLUSH on the live server: dispatch, webhooks and delayed jobs keep working', async () => {
    const pending = randomUUID();
    await t.deps.queue.dispatch(ping, { id: pending }, { organizationId: null, delayMs: 1_500 });
    await underTraffic(async () => {
      await probe.script('FLUSH');
    });
    await everythingWorks();
    // A delayed job queued before the flush is raised by a worker whose scripts are gone.
    await until(async () => (await probe.get(ran(pending))) === '1', `delayed job ${pending}`);
  });

  it('restart that keeps its data (AOF): a delayed job from before runs, and everything works', async () => {
    const pending = randomUUID();
    await t.deps.queue.dispatch(ping, { id: pending }, { organizationId: null, delayMs: 2_000 });
    await underTraffic(() => restart(true));
    await everythingWorks();
    await until(async () => (await probe.get(ran(pending))) === '1', `delayed job ${pending}`);
  });

  it('restart empty: everything works with no process restart', async () => {
    await underTraffic(() => restart(false));
    await everythingWorks();
  });
});
