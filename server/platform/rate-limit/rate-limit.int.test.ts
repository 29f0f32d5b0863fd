import { randomUUID } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../../shared/errors.ts';
import { createOrg, tokenFor, type TestOrg } from '../../test/factories.ts';
import { createTestEnv, startServer, type RunningServer, type TestEnv } from '../../test/harness.ts';
import { createCallerFactory, router } from '../../trpc/init.ts';
import { createInnerContext } from '../../trpc/context.ts';
import { loginProcedure, registerProcedure } from '../../trpc/procedures.ts';
import { rateLimitPreHandler } from './http.ts';
import { RATE_LIMIT_POLICIES, type PolicyName } from './policies.ts';

let env: TestEnv;
let org: TestOrg;
let server: RunningServer;

beforeAll(async () => {
  env = await createTestEnv({}, { realLimits: true });
  org = await createOrg(env.deps);
  server = await startServer(env.deps);
});
afterAll(async () => {
  await server?.close();
  await env?.close();
});

const uniqueKey = () => randomUUID();

describe('every policy allows exactly N and refuses N+1', () => {
  const cases: [PolicyName, number][] = [
    ['api', 60],
    ['login', 5],
    ['register', 3],
    ['password_reset', 3],
    ['exports', 5],
    ['webhooks', 60],
    ['mail', 10],
  ];
  it.each(cases)('%s: %i', async (policy, n) => {
    expect(RATE_LIMIT_POLICIES[policy].rules[0]!.points).toBe(n);
    const key = uniqueKey();
    for (let i = 1; i <= n; i++) {
      const d = await env.deps.rateLimits.consume(policy, key);
      expect(d.allowed).toBe(true);
      expect(d.remaining).toBe(n - i);
      expect(d.limit).toBe(n);
    }
    const refused = await env.deps.rateLimits.consume(policy, key);
    expect(refused).toMatchObject({ allowed: false, remaining: 0, limit: n });
    expect(refused.retryAfter).toBeGreaterThanOrEqual(1);
    expect(refused.retryAfter).toBeLessThanOrEqual(RATE_LIMIT_POLICIES[policy].rules[0]!.duration);
    // Another key is untouched.
    expect((await env.deps.rateLimits.consume(policy, uniqueKey())).allowed).toBe(true);
  });

  it('mail also caps the whole installation at 1000 an hour, and a refusal takes nothing from the organization', async () => {
    // Its own environment (own key prefix), so the global counter starts at zero.
    const other = await createTestEnv({}, { realLimits: true });
    try {
      const { rateLimits, redis } = other.deps;
      for (let o = 0; o < 100; o++) {
        const org = uniqueKey();
        for (let i = 0; i < 10; i++) expect((await rateLimits.consume('mail', org)).allowed).toBe(true);
      }
      const fresh = uniqueKey();
      const refused = await rateLimits.consume('mail', fresh);
      expect(refused).toMatchObject({ allowed: false, limit: 1000 });
      expect(refused.retryAfter).toBeGreaterThan(60);
      // The point the organization's window gave was handed back when the global window refused.
      expect(await redis.get('limits').get(`${redis.keyspace('limits')}mail:0:${fresh}`)).toBe('0');
    } finally {
      await other.close();
    }
  });

  it('keys are case-insensitive, so one email is one counter', async () => {
    const email = `Someone-${uniqueKey()}@Example.test`;
    for (let i = 0; i < 3; i++) await env.deps.rateLimits.consume('password_reset', email.toLowerCase());
    expect((await env.deps.rateLimits.consume('password_reset', email.toUpperCase())).allowed).toBe(false);
  });

  it('enforce throws RATE_LIMITED with retryAfter', async () => {
    const key = uniqueKey();
    for (let i = 0; i < 5; i++) await env.deps.rateLimits.enforce('exports', key);
    const err = await env.deps.rateLimits.enforce('exports', key).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('RATE_LIMITED');
    expect((err as AppError).details.retryAfter).toBeGreaterThanOrEqual(1);
  });
});

describe('limits survive a cache flush', () => {
  it('clearing the whole cache leaves an exhausted limit exhausted', async () => {
    const key = uniqueKey();
    for (let i = 0; i < 5; i++) await env.deps.rateLimits.consume('login', key);
    await env.deps.cache.global.remember('something', () => 1, { ttl: 60 });
    await env.deps.cache.clear();
    expect(await env.deps.cache.global.get('something')).toBeUndefined();
    expect((await env.deps.rateLimits.consume('login', key)).allowed).toBe(false);
  });
});

describe('over HTTP', () => {
  it('a plain route answers with X-RateLimit headers, then 429 with Retry-After', async () => {
    const app = Fastify();
    app.get(
      '/hook',
      { preHandler: rateLimitPreHandler(env.deps.rateLimits, 'webhooks', () => org.id) },
      () => ({
        ok: true,
      }),
    );
    await app.ready();
    try {
      let last;
      for (let i = 1; i <= 60; i++) {
        last = await app.inject({ method: 'GET', url: '/hook' });
        expect(last.statusCode).toBe(200);
        expect(last.headers['x-ratelimit-limit']).toBe('60');
        expect(last.headers['x-ratelimit-remaining']).toBe(String(60 - i));
      }
      const reset = Number(last!.headers['x-ratelimit-reset']);
      expect(reset).toBeGreaterThan(Date.now() / 1000);
      expect(reset).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 60);
      const refused = await app.inject({ method: 'GET', url: '/hook' });
      expect(refused.statusCode).toBe(429);
      expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(refused.headers['x-ratelimit-remaining']).toBe('0');
      expect(refused.json()).toMatchObject({ error: { data: { appCode: 'RATE_LIMITED', httpStatus: 429 } } });
    } finally {
      await app.close();
    }
  });

  it('authenticated tRPC calls get the api policy: the 61st is TOO_MANY_REQUESTS with retryAfter', async () => {
    const secret = await tokenFor(env.deps, org.id, org.owner);
    const call = () =>
      fetch(`${server.url}/trpc/auth.me`, { headers: { authorization: `Bearer ${secret}` } });
    for (let i = 0; i < 60; i++) {
      const res = await call();
      expect(res.status).toBe(200);
      expect(res.headers.get('x-ratelimit-limit')).toBe('60');
      expect(res.headers.get('x-ratelimit-remaining')).toBe(String(59 - i));
      expect(Number(res.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
    }
    const refused = await call();
    expect(refused.status).toBe(429);
    expect(refused.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const body = (await refused.json()) as {
      error: { json: { data: { code: string; appCode: string; retryAfter: number } } };
    };
    expect(body.error.json.data).toMatchObject({ code: 'TOO_MANY_REQUESTS', appCode: 'RATE_LIMITED' });
    expect(body.error.json.data.retryAfter).toBeGreaterThanOrEqual(1);
  });
});

describe('login and register procedures', () => {
  const probe = router({
    signIn: loginProcedure.mutation(() => 'ok'),
    register: registerProcedure.mutation(() => 'ok'),
  });
  const caller = (ip: string) => createCallerFactory(probe)(createInnerContext(env.deps, { ip }));

  it('login allows 5 per IP a minute, register 3 an hour', async () => {
    const ip = `10.0.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
    for (let i = 0; i < 5; i++) await expect(caller(ip).signIn()).resolves.toBe('ok');
    const err = await caller(ip)
      .signIn()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TRPCError);
    expect((err as TRPCError).code).toBe('TOO_MANY_REQUESTS');
    expect(((err as TRPCError).cause as AppError).details.retryAfter).toBeGreaterThanOrEqual(1);
    // Another address is not affected, and register counts separately.
    await expect(caller(`${ip}1`).signIn()).resolves.toBe('ok');
    for (let i = 0; i < 3; i++) await expect(caller(ip).register()).resolves.toBe('ok');
    await expect(caller(ip).register()).rejects.toMatchObject({ code: 'TOO_MANY_REQUESTS' });
  });
});
