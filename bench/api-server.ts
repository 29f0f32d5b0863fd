// Child process of bench/api.bench.ts: serves Keel's full stack, the hand-written reference (bench/api-reference.ts),
// the same work in stock tRPC (bench/api-stock-trpc.ts) or a bare Fastify JSON route, so the load generator and the
// server are separate processes in every case.
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import pg from 'pg';
import { startReferenceServer } from './api-reference.ts';
import { startStockTrpcServer } from './api-stock-trpc.ts';
import { buildApp } from '../server/app.ts';
import { parseConfig } from '../server/config/env.ts';
import { createDeps } from '../server/deps.ts';
import { createLogger } from '../server/platform/logger/logger.ts';
import { currentRequestStats } from '../server/platform/metrics/request-stats.ts';
import { LIFTED_LIMITS } from '../server/test/harness.ts';

const [mode, configJson] = process.argv.slice(2);

/**
 * With BENCH_COUNT=1 the process counts every statement it sends to PostgreSQL (`begin`, `set_config` and `commit`
 * included: each is a round trip) and every Redis command, and prints `COUNTS <statements> <redis commands>` on
 * SIGUSR2. Counted at the client libraries, below Keel, so nothing in server/ changes for it. In Keel only what runs
 * inside a request counts (its request-stats scope), not the background work of its timers; the reference has none.
 */
function countRoundTrips(inRequestOnly: boolean): void {
  const counts = { pg: 0, redis: 0 };
  const counted = () => !inRequestOnly || currentRequestStats() !== undefined;
  const query = pg.Client.prototype.query;
  // The overloads of `query` cannot be restated one by one here; the wrapper only counts and passes everything on.
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    if (counted()) counts.pg += 1;
    return Reflect.apply(query, this, args) as unknown;
  } as typeof query;
  const sendCommand = Redis.prototype.sendCommand;
  Redis.prototype.sendCommand = function (this: Redis, ...args: Parameters<typeof sendCommand>) {
    if (counted()) counts.redis += 1;
    return sendCommand.apply(this, args);
  };
  process.on('SIGUSR2', () => process.stdout.write(`COUNTS ${counts.pg} ${counts.redis}\n`));
}

let port: number;
if (mode === 'bare') {
  const app = Fastify({ logger: false });
  app.get('/json', async () => ({
    id: '00000000-0000-0000-0000-000000000000',
    name: 'Acme',
    tier: 'free',
    active: true,
  }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  port = typeof address === 'object' && address ? address.port : 0;
} else {
  const config = parseConfig(JSON.parse(configJson ?? '{}') as Record<string, string>);
  if (process.env.BENCH_COUNT === '1') countRoundTrips(mode === 'keel');
  if (mode === 'reference' || mode === 'stock') {
    if (!config.databaseUrl) throw new Error(`the ${mode} server needs DATABASE_URL`);
    // The same pool size as Keel's.
    const start = mode === 'reference' ? startReferenceServer : startStockTrpcServer;
    port = await start(config.databaseUrl, config.dbPoolMax);
  } else {
    // The load generator is one user sending thousands of requests a second: lift the per-user API limit.
    const deps = await createDeps(config, {
      logger: createLogger({ level: 'silent', pretty: false }),
      rateLimitPolicies: LIFTED_LIMITS,
    });
    const app = await buildApp(deps);
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    port = typeof address === 'object' && address ? address.port : 0;
  }
}
// Exit on SIGTERM rather than die of it, so that a server run under `--cpu-prof` writes its profile.
process.once('SIGTERM', () => process.exit(0));
process.stdout.write(`LISTENING ${port}\n`);
