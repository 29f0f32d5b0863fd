import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { freePort, startRedis, stopRedis } from '../../test/own-redis.ts';
import { RateLimits } from './rate-limiter.ts';

// The `api` policy's local budgets (issue 20.3): each RateLimits below has its own Redis connection and memory,
// as two API processes would; they share only the Redis key space. Round trips are read with MONITOR, on a
// redis-server of this file's own: on the shared one it would see (and slow) every other test file's traffic.

const keyspace = `keel:test:lease:${randomUUID().slice(0, 8)}:rl:`;
const policies = {
  api: { per: 'user', rules: [{ points: 60, duration: 60 }], lease: 10 },
} as const;
const connections: Redis[] = [];
let server: ChildProcess;
let redisUrl: string;
let monitor: Redis;
let probe: Redis;
let seen: string[] = [];

function process_(): RateLimits {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  connections.push(redis);
  return new RateLimits({ redis, keyspace, policies });
}

/**
 * Calls that reached Redis for a key, read from MONITOR (other test files' keys are filtered out). Each limiter
 * call is one script (`eval`/`evalsha`); MONITOR also lists the commands the script runs, which are not round trips.
 */
const roundTripsFor = (key: string) =>
  seen.filter((line) => /^eval(sha)? /i.test(line) && line.includes(key)).length;

beforeAll(async () => {
  const port = await freePort();
  server = await startRedis(port);
  redisUrl = `redis://127.0.0.1:${port}`;
  monitor = new Redis(redisUrl);
  const m = await monitor.monitor();
  m.on('monitor', (_time: string, args: string[]) => seen.push(args.join(' ')));
  connections.push(m);
  probe = new Redis(redisUrl);
  connections.push(probe);
});
afterAll(async () => {
  for (const c of connections) c.disconnect();
  monitor?.disconnect();
  if (server) await stopRedis(server);
});

async function settle() {
  // MONITOR lines arrive asynchronously: a PING through the monitored server flushes what came before it.
  await probe.ping();
  await new Promise((r) => setTimeout(r, 50));
}

describe('api limit with local budgets', () => {
  it('never admits more than the limit across two processes, refuses at most lease-1 early, and calls Redis about once per lease', async () => {
    const a = process_();
    const b = process_();
    const user = `user:${randomUUID()}`;
    seen = [];
    let admitted = 0;
    let firstRefusalAt = -1;
    let tripsWhileAdmitting = -1;
    for (let i = 0; i < 100; i++) {
      const d = await (i % 2 ? b : a).consume('api', user);
      expect(d.limit).toBe(60);
      if (d.allowed) admitted += 1;
      else if (firstRefusalAt < 0) {
        firstRefusalAt = admitted;
        await settle();
        tripsWhileAdmitting = roundTripsFor(user);
      }
    }
    expect(admitted).toBeLessThanOrEqual(60);
    expect(admitted).toBeGreaterThanOrEqual(60 - 9);
    expect(firstRefusalAt).toBeGreaterThanOrEqual(60 - 9);
    // Six reservations of ten (and, near the limit, a reservation that did not fit given back and exact calls)
    // against one call per request without leasing.
    expect(tripsWhileAdmitting).toBeGreaterThanOrEqual(6);
    expect(tripsWhileAdmitting).toBeLessThanOrEqual(12);
  });

  it('one process: concurrent calls of one caller share a reservation, and the count stays exact', async () => {
    const a = process_();
    const user = `user:${randomUUID()}`;
    seen = [];
    const decisions = await Promise.all(Array.from({ length: 30 }, () => a.consume('api', user)));
    await settle();
    expect(decisions.every((d) => d.allowed)).toBe(true);
    expect(roundTripsFor(user)).toBe(3);
    const rest = [];
    for (let i = 0; i < 31; i++) rest.push(await a.consume('api', user));
    expect(rest.filter((d) => d.allowed)).toHaveLength(30);
    expect(rest.at(-1)).toMatchObject({ allowed: false, remaining: 0 });
    expect(rest.at(-1)!.retryAfter).toBeGreaterThanOrEqual(1);
  });

  it('with Redis unreachable, budgets come from memory: the limit holds per process and requests are answered', async () => {
    const redis = new Redis({ port: await freePort(), maxRetriesPerRequest: 1, lazyConnect: false });
    redis.on('error', () => {});
    connections.push(redis);
    await new Promise((r) => setTimeout(r, 200));
    const alone = new RateLimits({ redis, keyspace, policies, timeoutMs: 100 });
    const user = `user:${randomUUID()}`;
    const decisions = [];
    for (let i = 0; i < 61; i++) decisions.push(await alone.consume('api', user));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(60);
    expect(decisions.at(-1)?.allowed).toBe(false);
  });
});
