import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboardStats } from '../../modules/dashboard/dashboard.service.ts';
import { Organization } from '../../modules/tenancy/organization.entity.ts';
import { tenantSettings } from '../../modules/tenancy/tenant-settings.ts';
import { createOrg, type TestOrg } from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { withDbScope } from '../db/context.ts';

// A private redis-server, so stopping it mid-test affects nobody else's tests.
let port: number;
let server: ChildProcess | undefined;
let env: TestEnv;
let org: TestOrg;

async function freePort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const p = (s.address() as { port: number }).port;
  s.close();
  await once(s, 'close');
  return p;
}

async function startRedis(): Promise<void> {
  server = spawn(
    'redis-server',
    ['--port', String(port), '--save', '', '--appendonly', 'no', '--enable-debug-command', 'yes'],
    {
      stdio: 'ignore',
    },
  );
  const probe = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 50 });
  probe.on('error', () => undefined); // refused until the server is up: expected while waiting
  for (let i = 0; i < 100; i++) {
    if (
      await probe.ping().then(
        () => true,
        () => false,
      )
    )
      break;
    await sleep(50);
  }
  probe.disconnect();
}

async function stopRedis(): Promise<void> {
  if (!server) return;
  const exited = once(server, 'exit');
  server.kill('SIGKILL');
  await exited;
  server = undefined;
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await sleep(25);
  expect(cond()).toBe(true);
}

beforeAll(async () => {
  port = await freePort();
  await startRedis();
  env = await createTestEnv({ REDIS_URL: `redis://127.0.0.1:${port}` }, { realLimits: true });
  org = await createOrg(env.deps);
});
afterAll(async () => {
  if (!server) await startRedis();
  await env?.close();
  await stopRedis();
});

describe('Redis stopped mid-test', () => {
  it('cached reads still answer, rate limits fall back to memory, nothing throws', async () => {
    const { cache, rateLimits, redis, flags } = env.deps;
    let factoryRuns = 0;
    const warm = await cache.tenant(org.id).remember(
      'warm',
      () => {
        factoryRuns++;
        return { hello: 'world' };
      },
      { ttl: 60, tags: ['t'] },
    );
    for (let i = 0; i < 3; i++) await rateLimits.consume('login', 'ip:1.2.3.4');
    await flags.evaluateAll(org.id);

    await stopRedis();
    await until(() => redis.get('cache').status !== 'ready' && redis.get('limits').status !== 'ready');

    // L1 answers what it holds; misses go to the factory; writes and flushes are absorbed.
    expect(await cache.tenant(org.id).remember('warm', () => ({ hello: 'recomputed' }), { ttl: 60 })).toEqual(
      warm,
    );
    expect(factoryRuns).toBe(1);
    expect(await cache.tenant(org.id).remember('cold', () => 'computed without Redis', { ttl: 60 })).toBe(
      'computed without Redis',
    );
    await expect(cache.tenant(org.id).flushTags('t')).resolves.toBeUndefined();
    await expect(cache.global.set('x', 1, { ttl: 60 })).resolves.toBeUndefined();
    await expect(cache.global.get('never-stored')).resolves.toBeUndefined();

    // The in-memory limiter counts from zero in this process, and still stops at the limit.
    for (let i = 0; i < 5; i++) expect((await rateLimits.consume('login', 'ip:1.2.3.4')).allowed).toBe(true);
    expect((await rateLimits.consume('login', 'ip:1.2.3.4')).allowed).toBe(false);

    // Features that read through the cache keep working: flags (from memory) and the dashboard (from PostgreSQL).
    await expect(flags.evaluateAll(org.id)).resolves.toBeTypeOf('object');
    const organization = await withDbScope(env.deps.em, undefined, (em) =>
      em.findOneOrFail(Organization, org.id),
    );
    const stats = await withDbScope(env.deps.em, org.id, (em) =>
      dashboardStats(cache, em, organization.id, tenantSettings(organization)),
    );
    expect(stats.users).toBe(1);
  });

  it('comes back to Redis once it is up again', async () => {
    if (!server) await startRedis();
    const { cache, redis } = env.deps;
    await until(() => redis.get('cache').status === 'ready');
    await sleep(1100); // the cache skips Redis for redisRetryMs after the last failure
    await cache.global.remember('after', () => 'stored in redis', { ttl: 60 });
    const probe = new Redis({ port });
    try {
      const keys = await probe.keys(`${env.config.keyPrefix}cache:*after`);
      expect(keys).toHaveLength(1);
    } finally {
      probe.disconnect();
    }
  });
});

describe('Redis slow', () => {
  it('answers from the factory within the Redis timeout while Redis is blocked', async () => {
    if (!server) await startRedis();
    const { cache } = env.deps;
    await until(() => env.deps.redis.get('cache').status === 'ready');
    await sleep(1100);
    const blocker = new Redis({ port });
    let blocked = true;
    const sleeping = blocker.call('DEBUG', 'SLEEP', '1').finally(() => (blocked = false));
    await sleep(50);
    const errorsBefore = cache.stats().redisErrors;
    const value = await cache.global.remember('while-slow', () => 'answered', { ttl: 60 });
    expect(value).toBe('answered');
    // It answered while Redis was still asleep, and counted the failure.
    expect(blocked).toBe(true);
    expect(cache.stats().redisErrors).toBeGreaterThan(errorsBefore);
    await sleeping;
    blocker.disconnect();
  });
});
