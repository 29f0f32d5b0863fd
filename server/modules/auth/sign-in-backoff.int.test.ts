import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../../shared/errors.ts';
import { Backoff, SIGN_IN_BACKOFF, type BackoffPolicy } from '../../platform/rate-limit/backoff.ts';
import { callerAs, createOrg, PASSWORD, type TestOrg } from '../../test/factories.ts';
import { createTestEnv, type TestEnv } from '../../test/harness.ts';
import { signIn } from './auth.service.ts';

// Issue 17 finding 10: failed sign-ins slow down the next try for that account, exponentially and capped, and
// never lock it: once the delay has run, a correct password always signs in.

let env: TestEnv;
let org: TestOrg;
beforeAll(async () => {
  env = await createTestEnv();
  org = await createOrg(env.deps);
});
afterAll(async () => {
  await env?.close();
});

const POLICY: BackoffPolicy = { freeFailures: 2, baseSeconds: 10, maxSeconds: 40, forgetAfterSeconds: 3600 };

/** A backoff on the test's Redis with a clock the test moves. */
function clocked(policy = POLICY) {
  const clock = { now: 1_800_000_000_000 };
  const keyspace = `${env.config.keyPrefix}test-backoff:${randomBytes(4).toString('hex')}:`;
  const backoff = new Backoff(env.deps.redis.get('limits'), keyspace, policy, () => clock.now);
  return { clock, backoff };
}

const email = () => `someone-${randomBytes(4).toString('hex')}@example.test`;

describe('Backoff', () => {
  it('free failures, then 10 s, 20 s, 40 s, 40 s (capped); a refused try does not extend the delay', async () => {
    const { clock, backoff } = clocked();
    const key = email();
    expect(await backoff.check(key)).toEqual({ allowed: true, retryAfter: 0 });
    expect(await backoff.fail(key)).toBe(0);
    expect(await backoff.fail(key)).toBe(0);
    expect(await backoff.check(key)).toEqual({ allowed: true, retryAfter: 0 });
    expect(await backoff.fail(key)).toBe(10);
    expect(await backoff.check(key)).toEqual({ allowed: false, retryAfter: 10 });
    clock.now += 9_001;
    // Asked again and again during the delay: the answer counts down, it never grows.
    for (let i = 0; i < 5; i++) expect(await backoff.check(key)).toEqual({ allowed: false, retryAfter: 1 });
    clock.now += 999;
    expect(await backoff.check(key)).toEqual({ allowed: true, retryAfter: 0 });
    expect(await backoff.fail(key)).toBe(20);
    clock.now += 20_000;
    expect(await backoff.fail(key)).toBe(40);
    clock.now += 40_000;
    expect(await backoff.fail(key)).toBe(40);
    expect(await backoff.check(key)).toEqual({ allowed: false, retryAfter: 40 });
    // Another address, or the same one in another case, is one counter per address.
    expect(await backoff.check(email())).toEqual({ allowed: true, retryAfter: 0 });
    expect(await backoff.check(key.toUpperCase())).toEqual({ allowed: false, retryAfter: 40 });
    // A success forgets every failure.
    await backoff.succeed(key);
    expect(await backoff.check(key)).toEqual({ allowed: true, retryAfter: 0 });
    expect(await backoff.fail(key)).toBe(0);
  });

  it('the built-in policy: 5 free failures, then 1 s doubling, never more than 15 minutes', async () => {
    const { backoff } = clocked(SIGN_IN_BACKOFF);
    const key = email();
    const delays: number[] = [];
    for (let i = 0; i < 18; i++) delays.push(await backoff.fail(key));
    expect(delays).toEqual([0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900]);
  });

  it('keeps no address in Redis key names', async () => {
    const { backoff } = clocked();
    const key = email();
    await backoff.fail(key);
    const keys = await env.deps.redis.get('limits').keys(`${env.config.keyPrefix}test-backoff:*`);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.join(' ')).not.toContain(key.split('@')[0]);
  });
});

describe('signing in with the backoff', () => {
  it('a correct password is refused (unjudged) during the delay and signs in once it has run', async () => {
    const { clock, backoff } = clocked();
    const em = env.deps.em.fork();
    const address = org.owner.email;
    for (let i = 0; i < 3; i++) {
      await expect(signIn(em, address, 'wrong password', backoff)).rejects.toMatchObject({
        code: 'INVALID_CREDENTIALS',
      });
    }
    const refused = await signIn(em, address, PASSWORD, backoff).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({ code: 'RATE_LIMITED', details: { retryAfter: 10 } });
    clock.now += 10_000;
    expect((await signIn(em, address, PASSWORD, backoff)).id).toBe(org.owner.id);
    // The success cleared the count: the next typo costs nothing.
    await expect(signIn(em, address, 'typo', backoff)).rejects.toMatchObject({ code: 'INVALID_CREDENTIALS' });
    expect(await backoff.check(address)).toEqual({ allowed: true, retryAfter: 0 });
  });

  it('an address without an account is slowed down exactly the same (the delay tells nothing)', async () => {
    const { backoff } = clocked();
    const unknown = email();
    for (let i = 0; i < 3; i++) {
      await expect(signIn(env.deps.em.fork(), unknown, 'x', backoff)).rejects.toMatchObject({
        code: 'INVALID_CREDENTIALS',
      });
    }
    await expect(signIn(env.deps.em.fork(), unknown, 'x', backoff)).rejects.toMatchObject({
      code: 'RATE_LIMITED',
      details: { retryAfter: 10 },
    });
  });

  it('auth.signIn uses it: after 10 failures of an account, its correct password waits, TOO_MANY_REQUESTS', async () => {
    const backoff = env.deps.rateLimits.signInBackoff;
    const address = org.owner.email;
    for (let i = 0; i < 10; i++) await backoff.fail(address);
    const caller = await callerAs(env.deps, null);
    const err = await caller.auth.signIn({ email: address, password: PASSWORD }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TOO_MANY_REQUESTS', cause: { code: 'RATE_LIMITED' } });
    const retryAfter = (err as { cause: AppError }).cause.details.retryAfter as number;
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(32);
    await backoff.succeed(address);
    await expect(caller.auth.signIn({ email: address, password: PASSWORD })).resolves.toMatchObject({
      user: { id: org.owner.id },
    });
  });
});
