import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrg, PASSWORD } from '../../test/factories.ts';
import { createTestEnv, startServer, type RunningServer, type TestEnv } from '../../test/harness.ts';
import { eventually, freePort, isStopped, startRedis, stopRedis } from '../../test/own-redis.ts';
import { runHealthChecks } from './health.ts';

// Readiness against dependencies that go away. The shared Redis on 6379 serves other test files, so this file
// starts (and kills) a redis-server of its own; PostgreSQL "down" is a server pointed at a port nobody listens on.

interface ReadyCheck {
  status: 'pass' | 'warn' | 'fail';
  componentType: string;
  output?: string;
}
interface ReadyBody {
  status: 'pass' | 'warn' | 'fail';
  checks: Record<string, ReadyCheck[]>;
}

async function signInCookie(server: RunningServer, email: string): Promise<string> {
  const res = await fetch(`${server.url}/trpc/auth.signIn`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ json: { email, password: PASSWORD } }),
  });
  expect(res.status).toBe(200);
  return res.headers.getSetCookie()[0]!.split(';')[0]!;
}

async function readyz(server: RunningServer) {
  const res = await fetch(`${server.url}/readyz`);
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    cache: res.headers.get('cache-control'),
    body: (await res.json()) as ReadyBody,
  };
}

describe('/readyz with Redis going away and coming back', () => {
  let port: number;
  let redis: ChildProcess;
  let env: TestEnv;
  let server: RunningServer;

  beforeAll(async () => {
    port = await freePort();
    redis = await startRedis(port);
    env = await createTestEnv({ REDIS_URL: `redis://127.0.0.1:${port}` });
    server = await startServer(env.deps);
  });
  afterAll(async () => {
    await server?.close();
    // Cleaning up this environment's keys needs its Redis, even when a test left it stopped.
    if (redis && isStopped(redis)) redis = await startRedis(port);
    await env?.close();
    if (redis) await stopRedis(redis);
  });

  it('answers 200 pass in the health+json shape when everything is up', async () => {
    const { status, type, cache, body } = await readyz(server);
    expect(status).toBe(200);
    expect(type).toMatch(/^application\/health\+json/);
    expect(cache).toBe('no-store');
    expect(body.status).toBe('pass');
    expect(body.checks['postgres:responseTime']?.[0]).toMatchObject({
      status: 'pass',
      componentType: 'datastore',
    });
    expect(body.checks['redis:responseTime']?.[0]).toMatchObject({
      status: 'pass',
      componentType: 'datastore',
    });
  });

  it('answers 503 naming the Redis check while Redis is down, and 200 again once it is back', async () => {
    const org = await createOrg(env.deps);
    const cookie = await signInCookie(server, org.owner.email);

    await stopRedis(redis);
    const down = await readyz(server);
    expect(down.status).toBe(503);
    expect(down.type).toMatch(/^application\/health\+json/);
    expect(down.body.status).toBe('fail');
    expect(down.body.checks['redis:responseTime']?.[0]?.status).toBe('fail');
    expect(down.body.checks['postgres:responseTime']?.[0]?.status).toBe('pass');

    // Liveness does not depend on Redis: the process is fine, only not ready.
    expect((await fetch(`${server.url}/livez`)).status).toBe(200);
    // A signed-in call cannot read its session: a typed 503, not a 500 and not "signed out".
    const me = await fetch(`${server.url}/trpc/auth.me`, { headers: { cookie } });
    expect(me.status).toBe(503);
    const meBody = (await me.json()) as { error: { json: { data: { appCode: string } } } };
    expect(meBody.error.json.data.appCode).toBe('SERVICE_UNAVAILABLE');

    redis = await startRedis(port);
    expect(await eventually(async () => (await readyz(server)).status === 200)).toBe(true);
    const up = await readyz(server);
    expect(up.body.status).toBe('pass');
    expect(up.body.checks['redis:responseTime']?.[0]?.status).toBe('pass');
    // The restarted Redis kept nothing (no persistence): the old session is gone, signing in works again.
    const after = await fetch(`${server.url}/trpc/auth.me`, { headers: { cookie } });
    expect(after.status).toBe(401);
    expect((await signInCookie(server, org.owner.email)).startsWith('keel_session=')).toBe(true);
  });
});

describe('/readyz with PostgreSQL unreachable', () => {
  let env: TestEnv;
  let server: RunningServer;

  beforeAll(async () => {
    const closedPort = await freePort();
    env = await createTestEnv({ DATABASE_URL: `postgresql://postgres@127.0.0.1:${closedPort}/keel_nowhere` });
    server = await startServer(env.deps);
  });
  afterAll(async () => {
    await server?.close();
    await env?.close();
  });

  it('answers 503 naming the PostgreSQL check', async () => {
    const { status, body } = await readyz(server);
    expect(status).toBe(503);
    expect(body.status).toBe('fail');
    expect(body.checks['postgres:responseTime']?.[0]?.status).toBe('fail');
    expect(body.checks['redis:responseTime']?.[0]?.status).toBe('pass');
  });

  it('API calls that need the database get a typed 503 without internal details', async () => {
    const res = await fetch(`${server.url}/trpc/auth.signIn`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ json: { email: 'someone@example.test', password: 'whatever-it-is' } }),
    });
    const text = await res.text();
    expect(res.status).toBe(503);
    const body = JSON.parse(text) as { error: { json: { message: string; data: { appCode: string } } } };
    expect(body.error.json.data.appCode).toBe('SERVICE_UNAVAILABLE');
    expect(text).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|keel_nowhere|postgres|\bat /i);
  });
});

describe('runHealthChecks', () => {
  it('fails a check that does not answer in time, and warns on a slow one', async () => {
    const report = await runHealthChecks(
      [
        { key: 'hang:responseTime', componentType: 'component', run: () => new Promise(() => undefined) },
        {
          key: 'slow:responseTime',
          componentType: 'component',
          run: () => new Promise((r) => setTimeout(r, 30)),
        },
        { key: 'ok:responseTime', componentType: 'component', run: async () => undefined },
      ],
      { version: 'test', timeoutMs: 50, slowMs: 20 },
    );
    expect(report.status).toBe('fail');
    expect(report.checks['hang:responseTime']?.[0]).toMatchObject({
      status: 'fail',
      output: 'timed out after 50 ms',
    });
    expect(report.checks['slow:responseTime']?.[0]?.status).toBe('warn');
    expect(report.checks['ok:responseTime']?.[0]?.status).toBe('pass');
  });
});
