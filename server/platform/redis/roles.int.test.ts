import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_REDIS_URL } from '../../test/env.ts';
import { callerAs, createOrg, PASSWORD, type TestOrg } from '../../test/factories.ts';
import { createTestEnv, startServer, type RunningServer, type TestEnv } from '../../test/harness.ts';
import { freePort, isStopped, startRedis, stopRedis } from '../../test/own-redis.ts';
import { runHealthChecks } from '../health/health.ts';

// Issue 22.1: the cache on a Redis of its own (REDIS_CACHE_URL), everything else on REDIS_URL. The cache server is
// this file's own redis-server (it is flushed and stopped here); REDIS_URL is the shared one under a unique prefix.

async function keysUnder(redis: Redis, pattern: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) out[key] = await redis.type(key);
  } while (cursor !== '0');
  return out;
}

async function signIn(server: RunningServer, email: string, password: string) {
  return fetch(`${server.url}/trpc/auth.signIn`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ json: { email, password } }),
  });
}

describe('a Redis per role: the cache on its own server', () => {
  let cachePort: number;
  let cacheRedis: ChildProcess;
  let env: TestEnv;
  let server: RunningServer;
  let org: TestOrg;
  let shared: Redis;
  let cacheServer: Redis;

  beforeAll(async () => {
    cachePort = await freePort();
    cacheRedis = await startRedis(cachePort);
    env = await createTestEnv({ REDIS_CACHE_URL: `redis://127.0.0.1:${cachePort}` }, { realLimits: true });
    server = await startServer(env.deps);
    org = await createOrg(env.deps);
    shared = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
    cacheServer = new Redis(`redis://127.0.0.1:${cachePort}`, { maxRetriesPerRequest: 1, lazyConnect: true });
    cacheServer.on('error', () => {});
  });
  afterAll(async () => {
    cacheServer?.disconnect();
    shared?.disconnect();
    await server?.close();
    await env?.close();
    if (cacheRedis && !isStopped(cacheRedis)) await stopRedis(cacheRedis);
  });

  it('puts cache keys on the cache server and nothing else there; flushing it signs nobody out, resets no limit and loses no job', async () => {
    const prefix = env.config.keyPrefix;
    const signedIn = await signIn(server, org.owner.email, PASSWORD);
    expect(signedIn.status).toBe(200);
    const cookie = signedIn.headers.getSetCookie()[0]!.split(';')[0]!;
    // Failed sign-ins count against the login limit; an export waits in its queue (bee-queue's `bq:` keys and the
    // job index's `q:` keys; no worker runs here).
    for (let i = 0; i < 2; i++)
      expect((await signIn(server, org.owner.email, 'wrong password')).status).toBe(401);
    const caller = await callerAs(env.deps, org.owner);
    await caller.exports.request({});
    let factoryRuns = 0;
    const cached = () =>
      env.deps.cache.tenant(org.id).remember('roles-probe', () => ++factoryRuns, { ttl: 60 });
    expect(await cached()).toBe(1);

    const onCache = await keysUnder(cacheServer, `${prefix}*`);
    expect(Object.keys(onCache).length).toBeGreaterThan(0);
    expect(Object.keys(onCache).every((k) => k.startsWith(`${prefix}cache:`))).toBe(true);
    expect(Object.keys(await keysUnder(shared, `${prefix}cache:*`))).toEqual([]);

    const sessionsBefore = await keysUnder(shared, `${prefix}sess:*`);
    const limitsBefore = await keysUnder(shared, `${prefix}rl:*`);
    const limitValues = async (keys: string[]) =>
      Promise.all(keys.map(async (k) => [k, await shared.dumpBuffer(k)] as const));
    const limitDumps = await limitValues(Object.keys(limitsBefore).filter((k) => limitsBefore[k] !== 'none'));
    const queueKeys = async () => ({
      ...(await keysUnder(shared, `${prefix}bq:*`)),
      ...(await keysUnder(shared, `${prefix}q:*`)),
    });
    const queueBefore = await queueKeys();
    expect(Object.keys(sessionsBefore).length).toBeGreaterThan(0);
    expect(Object.keys(limitsBefore).length).toBeGreaterThan(0);
    expect(Object.keys(queueBefore).length).toBeGreaterThan(0);

    await cacheServer.flushall();

    // Still signed in, every limit counts what it counted, every queue key is where it was.
    expect(await keysUnder(shared, `${prefix}sess:*`)).toEqual(sessionsBefore);
    const limitsAfter = await limitValues(limitDumps.map(([k]) => k));
    expect(limitsAfter.map(([k, v]) => [k, v?.toString('hex')])).toEqual(
      limitDumps.map(([k, v]) => [k, v?.toString('hex')]),
    );
    expect(Object.keys(await queueKeys()).sort()).toEqual(Object.keys(queueBefore).sort());
    // (read last: the call itself counts against the `api` limit)
    const me = await fetch(`${server.url}/trpc/auth.me`, { headers: { cookie } });
    expect(me.status).toBe(200);
    // The cache itself lost its second level: another process (no first level) would run the factory again.
    expect(Object.keys(await keysUnder(cacheServer, `${prefix}*`))).toEqual([]);
  });

  it('readiness has a check per server; a stopped cache server warns, names the role and node, and requests go on', async () => {
    const up = await runHealthChecks(env.deps.healthChecks, { version: 'test' });
    expect(up.checks['redis:responseTime']?.[0]?.status).toBe('pass');
    expect(up.checks['redis-cache:responseTime']?.[0]?.status).toBe('pass');

    await stopRedis(cacheRedis);
    const down = await runHealthChecks(env.deps.healthChecks, { version: 'test' });
    expect(down.checks['redis-cache:responseTime']?.[0]).toMatchObject({ status: 'warn' });
    expect(down.checks['redis-cache:responseTime']?.[0]?.output).toContain(
      `redis for cache at 127.0.0.1:${cachePort}`,
    );
    expect(down.checks['redis:responseTime']?.[0]?.status).toBe('pass');
    expect(down.status).toBe('warn');
    const readyz = await fetch(`${server.url}/readyz`);
    expect(readyz.status).toBe(200);

    const signedIn = await signIn(server, org.owner.email, PASSWORD);
    expect(signedIn.status).toBe(200);
    const cookie = signedIn.headers.getSetCookie()[0]!.split(';')[0]!;
    const current = await fetch(`${server.url}/trpc/organization.current`, {
      headers: { cookie, 'x-organization-id': org.id },
    });
    expect(current.status).toBe(200);
  });
});
