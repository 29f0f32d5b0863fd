import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { inject } from 'vitest';
import { buildApp, type KeelApp } from '../app.ts';
import { parseConfig, type Config } from '../config/env.ts';
import { createDeps, type AppDeps } from '../deps.ts';
import type { BillingSandbox } from '../modules/billing/sandbox/sandbox.ts';
import { createLogger } from '../platform/logger/logger.ts';
import { TEST_REDIS_URL } from './env.ts';

export interface TestEnv {
  deps: AppDeps;
  config: Config;
  /** Deletes this environment's Redis keys and closes connections. */
  close(): Promise<void>;
}

/**
 * Deps against the run's test database and the real Redis, under a key prefix of their own so parallel test files
 * never see each other's sessions, limits or cache entries.
 */
/**
 * Functional tests, the e2e server and load benchmarks sign in and call procedures far more often than a person:
 * unless a test is about limits (`realLimits`), the per-user and per-IP request limits are lifted. Limits on
 * business actions (exports, mail) stay real.
 */
export const LIFTED_LIMITS = {
  api: { per: 'user', rules: [{ points: 1e9, duration: 60 }], lease: 10 },
  login: { per: 'IP', rules: [{ points: 1e9, duration: 60 }] },
  register: { per: 'IP', rules: [{ points: 1e9, duration: 3600 }] },
};

export async function createTestEnv(
  overrides: Record<string, string> = {},
  /** `logStream`: where the logs go (at LOG_LEVEL), for tests that read what was logged. */
  opts: { realLimits?: boolean; logStream?: NodeJS.WritableStream; billingSandbox?: BillingSandbox } = {},
): Promise<TestEnv> {
  const prefix = `keel:test:${randomBytes(4).toString('hex')}:`;
  const parsed = parseConfig({
    NODE_ENV: 'test',
    DATABASE_URL: inject('databaseUrl'),
    REDIS_URL: TEST_REDIS_URL,
    KEY_PREFIX: prefix,
    LOG_LEVEL: 'silent',
    APP_URL: 'http://localhost:3000',
    SESSION_SECRET: 'test-session-secret-test-session-secret-0123',
    DB_POOL_MAX: '4',
    ...overrides,
  });
  const config = opts.billingSandbox ? opts.billingSandbox.configure(parsed) : parsed;
  const deps = await createDeps(config, {
    logger: createLogger({
      level: config.logLevel,
      pretty: false,
      ...(opts.logStream ? { stream: opts.logStream } : {}),
    }),
    ...(opts.realLimits ? {} : { rateLimitPolicies: LIFTED_LIMITS }),
    ...(opts.billingSandbox ? { billingSandbox: opts.billingSandbox } : {}),
  });
  return {
    deps,
    config,
    async close() {
      await deps.close();
      await deleteKeys(config.redisUrl!, prefix);
    },
  };
}

export async function deleteKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export interface RunningServer {
  app: KeelApp;
  url: string;
  wsUrl: string;
  close(): Promise<void>;
}

export async function startServer(deps: AppDeps): Promise<RunningServer> {
  const app = await buildApp(deps);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return {
    app,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/trpc`,
    close: () => app.close(),
  };
}
