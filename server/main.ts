#!/usr/bin/env -S npx tsx
import { Command } from 'commander';
import { buildApp } from './app.ts';
import { ConfigError, loadConfig, type Config } from './config/env.ts';
import { createDeps, type AppDeps } from './deps.ts';
import { seedDemo } from './modules/demo/demo.content.ts';
import { DEMO_LOGINS, DEMO_PASSWORD } from './modules/demo/demo.seed.ts';
import { registerQueueCommands } from './modules/jobs/jobs.cli.ts';
import { createLogger } from './platform/logger/logger.ts';
import { startMetricsServer } from './platform/metrics/http-plugin.ts';
import { RedisUnavailableError, startLocalRedis } from './platform/redis/local-server.ts';

function fail(message: string): never {
  process.stderr.write(`\n${message}\n\n`);
  process.exit(1);
}

function readConfig(overrides: Record<string, string> = {}): Config {
  try {
    return loadConfig(overrides);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
}

/** Without REDIS_URL, local roles start a private redis-server; production refuses to guess. */
async function withRedis(config: Config, allowLocal = config.env !== 'production'): Promise<Config> {
  if (config.redisUrl) return config;
  if (!allowLocal) fail('REDIS_URL is not set.\n' + new RedisUnavailableError().message);
  try {
    const local = await startLocalRedis('.keel/redis');
    process.stdout.write(`Started a local redis-server at ${local.url} (set REDIS_URL to use your own)\n`);
    return { ...config, redisUrl: local.url };
  } catch (err) {
    if (err instanceof RedisUnavailableError) fail(err.message);
    throw err;
  }
}

/**
 * Development without STRIPE_SECRET_KEY: billing runs against Keel's own Stripe-compatible sandbox in this process
 * (its state kept in BILLING_SANDBOX_FILE), so subscribing, dunning and suspension can be tried without an account.
 */
async function open(base: Config, opts: { billingSandbox?: boolean } = {}): Promise<AppDeps> {
  // Only the processes that serve billing (or seed it) run the sandbox: a CLI command next to a running `keel dev`
  // must not start a second one over the same state file.
  if (!base.billing.sandbox || !opts.billingSandbox) return withDbNote(await createDeps(base));
  const logger = createLogger({ level: base.logLevel, pretty: base.logPretty });
  const { BillingSandbox } = await import('./modules/billing/sandbox/sandbox.ts');
  const billingSandbox = await BillingSandbox.start({ logger, stateFile: base.billing.sandboxFile });
  return withDbNote(await createDeps(billingSandbox.configure(base), { logger, billingSandbox }));
}

function withDbNote(deps: AppDeps): AppDeps {
  const { config } = deps;
  if (!config.databaseUrl) deps.logger.info({ dir: config.pgliteDir }, 'using embedded PostgreSQL (PGlite)');
  return deps;
}

async function migrateUp(deps: AppDeps): Promise<void> {
  await deps.orm.schema.ensureDatabase({ create: true });
  const done = await deps.orm.migrator.up();
  if (done.length) deps.logger.info({ migrations: done.map((m) => m.name) }, 'migrations applied');
}

/** `worker`: one started in the same process (`keel dev`), stopped before the deps close. */
async function serve(
  deps: AppDeps,
  banner: boolean,
  worker?: { stop(graceMs?: number): Promise<void> },
): Promise<void> {
  const { config } = deps;
  const app = await buildApp(deps);
  await app.listen({ port: config.port, host: config.host });
  const metricsServer = config.metricsPort
    ? await startMetricsServer(deps.observability, config.host, config.metricsPort)
    : null;
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const local = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
  // The sandbox's webhooks go to this process, signed as Stripe signs them.
  deps.billingSandbox?.deliverTo(local);
  if (banner) {
    const url = `http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${port}`;
    const lines = [
      '',
      `  Keel is running at ${url}`,
      `    tenant app   ${url}/app`,
      `    ops console  ${url}/ops`,
      `    API          ${url}/trpc   health ${url}/readyz`,
      ...(deps.billingSandbox
        ? [
            `    billing      sandbox: payments are simulated, nothing is charged (STRIPE_SECRET_KEY for Stripe)`,
          ]
        : []),
      '',
      `  Demo logins (password "${DEMO_PASSWORD}"):`,
      ...DEMO_LOGINS.map((l) => `    ${l.email.padEnd(20)} ${l.role}`),
      '',
    ];
    process.stdout.write(lines.join('\n') + '\n');
  }
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    const startedAt = performance.now();
    deps.logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    await app.close();
    // Running jobs get most of the 15 s; unfinished ones go back on their queue.
    await worker?.stop(Math.min(deps.queue.settings.shutdownGraceMs, 10_000));
    await metricsServer?.close();
    await deps.close();
    deps.logger.info(
      { signal, ms: Math.round(performance.now() - startedAt) },
      'shut down: HTTP and WebSockets drained; worker, metrics, queues, Redis and database closed',
    );
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

const program = new Command()
  .name('keel')
  .description('Keel: API, workers and operations for a multi-tenant SaaS');

program
  .command('dev', { isDefault: true })
  .description('local all-in-one: embedded defaults, migrate, seed demo data, serve')
  .action(async () => {
    const config = await withRedis(readConfig(), true);
    const deps = await open(config, { billingSandbox: true });
    await migrateUp(deps);
    if (config.seedDemo) await seedDemo(deps);
    // All in one: the API and a worker (every queue, leader: scheduler and stall checks) in this process.
    const { createAppWorker } = await import('./modules/jobs/worker.setup.ts');
    const worker = createAppWorker(deps, { embedded: true });
    await worker.start();
    await serve(deps, true, worker);
  });

program
  .command('serve')
  .description('run the API server (HTTP + WebSocket)')
  .option('--migrate', 'apply pending migrations first')
  .action(async (opts: { migrate?: boolean }) => {
    const config = await withRedis(readConfig());
    const deps = await open(config, { billingSandbox: true });
    if (opts.migrate) await migrateUp(deps);
    await serve(deps, config.env !== 'production');
  });

program
  .command('migrate')
  .description('apply pending migrations (or undo the last one with --down)')
  .option('--down', 'revert the last migration')
  .action(async (opts: { down?: boolean }) => {
    const config = readConfig();
    const logger = createLogger({ level: config.logLevel, pretty: config.logPretty });
    const { createOrm } = await import('./platform/db/orm.ts');
    const { entities } = await import('./modules/entities.ts');
    const orm = await createOrm({ ...config, entities, poolMax: 2, logger });
    await orm.schema.ensureDatabase({ create: true });
    const result = opts.down ? await orm.migrator.down() : await orm.migrator.up();
    process.stdout.write(
      `${opts.down ? 'reverted' : 'applied'}: ${result.map((m) => m.name).join(', ') || 'nothing'}\n`,
    );
    await orm.close(true);
  });

program
  .command('migrate:create')
  .description('generate a migration from the difference between entities and the database')
  .argument('[name]', 'a short name for the migration')
  .action(async (name?: string) => {
    const config = readConfig();
    const { createOrm } = await import('./platform/db/orm.ts');
    const { entities } = await import('./modules/entities.ts');
    const orm = await createOrm({ ...config, entities, poolMax: 2 });
    const result = await orm.migrator.create(undefined, false, false, name);
    process.stdout.write(result.fileName ? `created ${result.fileName}\n` : 'no changes\n');
    await orm.close(true);
  });

program
  .command('monitoring:check')
  .description('evaluate every alert rule once and send the notifications that are due')
  .action(async () => {
    const config = readConfig();
    if (!config.redisUrl) fail('monitoring:check needs REDIS_URL (the metrics it reads live in Redis).');
    const deps = await createDeps(config);
    const { createAlertEvaluator } = await import('./modules/alerts/alerts.setup.ts');
    const evaluator = createAlertEvaluator(deps);
    const result = await evaluator.evaluate();
    if (!result) process.stdout.write('another process is evaluating alerts right now\n');
    for (const s of await evaluator.statuses()) {
      const value = s.value === null ? '-' : s.value.toFixed(2);
      process.stdout.write(
        `${s.rule.id.padEnd(20)} ${s.state.padEnd(9)} ${(s.severity ?? '').padEnd(9)} ${value}\n`,
      );
    }
    await deps.close();
    process.exit(0);
  });

program
  .command('cache:warm')
  .description('fill the cache with dashboard stats, member lists and settings of active organizations')
  .option('--organizations <idsOrSlugs...>', 'only these organizations (ids or slugs)')
  .option('--concurrency <n>', 'organizations warmed at once', '4')
  .action(async (opts: { organizations?: string[]; concurrency: string }) => {
    const config = await withRedis(readConfig());
    const deps = await open(config);
    const { organizationsToWarm, warmOrganizations } = await import('./modules/dashboard/dashboard.warm.ts');
    const { SingleBar, Presets } = await import('cli-progress');
    const names = opts.organizations?.flatMap((o) => o.split(',')).filter(Boolean);
    const targets = await organizationsToWarm(deps, names).catch((err: unknown) =>
      fail(err instanceof Error ? err.message : String(err)),
    );
    const bar = new SingleBar(
      { format: 'warming {bar} {value}/{total} organizations', hideCursor: true },
      Presets.shades_classic,
    );
    bar.start(targets.length, 0);
    const result = await warmOrganizations(
      deps,
      targets,
      (n) => bar.update(n),
      Math.max(1, Number(opts.concurrency) || 4),
    );
    bar.stop();
    for (const f of result.failed) process.stderr.write(`failed ${f.organizationId}: ${f.error}\n`);
    process.stdout.write(
      `warmed ${result.organizations - result.failed.length} of ${result.organizations} organizations\n`,
    );
    await deps.close();
    process.exit(result.failed.length ? 1 : 0);
  });

program
  .command('seed')
  .description(
    'create the demo (idempotent); --size large adds 100 organizations and 10,000 users for load tests',
  )
  .option('--size <size>', 'demo | large', 'demo')
  .action(async (opts: { size: string }) => {
    if (opts.size !== 'demo' && opts.size !== 'large') fail('--size must be demo or large');
    const config = await withRedis(readConfig(), true);
    const deps = await open(config, { billingSandbox: true });
    const started = Date.now();
    const { created } = await seedDemo(deps);
    process.stdout.write(
      `${created ? 'demo data created' : 'demo data brought up to date'} in ${Date.now() - started} ms\n`,
    );
    if (opts.size === 'large') {
      const { LARGE_SEED, seedLarge } = await import('./modules/demo/demo.large.ts');
      const r = await seedLarge(deps, LARGE_SEED);
      process.stdout.write(
        `large seed: ${r.organizations} organizations, ${r.users} users, ${r.memberships} memberships added ` +
          `(of ${LARGE_SEED.organizations} and ${LARGE_SEED.organizations * LARGE_SEED.usersPerOrganization}) in ${r.ms} ms\n`,
      );
    }
    await deps.close();
    process.exit(0);
  });

registerQueueCommands(program, async () => open(await withRedis(readConfig())));

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
