// A Keel API process for the two-process realtime tests and bench/realtime: started with `tsx` by
// cluster.ts, configured by one JSON argument, it prints `LISTENING <port>` once it serves. SIGTERM closes it
// gracefully (clients are asked to reconnect); SIGKILL is how a test simulates a crash.
import { parseConfig } from '../../../config/env.ts';
import { createDeps } from '../../../deps.ts';
import { createLogger } from '../../../platform/logger/logger.ts';
import { RateLimits } from '../../../platform/rate-limit/rate-limiter.ts';
import type { RealtimeLimits } from '../../../platform/realtime/connections.ts';
import { startServer } from '../../../test/harness.ts';

interface ProcessOptions {
  env: Record<string, string>;
  limits?: Partial<RealtimeLimits>;
}

const opts = JSON.parse(process.argv[2] ?? '{}') as ProcessOptions;
const config = parseConfig(opts.env);
const deps = await createDeps(config, { logger: createLogger({ level: config.logLevel, pretty: false }) });
deps.realtime.configure(opts.limits ?? {});
// Tests and the bench open many subscriptions as one user; the per-user API limit is not what they measure.
deps.rateLimits = new RateLimits({
  redis: deps.redis.get('limits'),
  keyspace: deps.redis.keyspace('limits'),
  policies: { api: { per: 'user', rules: [{ points: 1_000_000, duration: 60 }] } },
});
const server = await startServer(deps);
process.stdout.write(`LISTENING ${new URL(server.url).port}\n`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await server.close();
  await deps.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
// The parent went away without stopping us: do not outlive it.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
