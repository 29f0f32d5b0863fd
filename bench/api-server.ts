// Child process of bench/api.bench.ts: serves either Keel's full stack or a bare Fastify JSON route, so the load
// generator and the server are separate processes in both cases.
import Fastify from 'fastify';
import { buildApp } from '../server/app.ts';
import { parseConfig } from '../server/config/env.ts';
import { createDeps } from '../server/deps.ts';
import { createLogger } from '../server/platform/logger/logger.ts';
import { LIFTED_LIMITS } from '../server/test/harness.ts';

const [mode, configJson] = process.argv.slice(2);

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
  process.stdout.write(`LISTENING ${typeof address === 'object' && address ? address.port : 0}\n`);
} else {
  const config = parseConfig(JSON.parse(configJson ?? '{}') as Record<string, string>);
  // The load generator is one user sending thousands of requests a second: lift the per-user API limit.
  const deps = await createDeps(config, {
    logger: createLogger({ level: 'silent', pretty: false }),
    rateLimitPolicies: LIFTED_LIMITS,
  });
  const app = await buildApp(deps);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  process.stdout.write(`LISTENING ${typeof address === 'object' && address ? address.port : 0}\n`);
}
