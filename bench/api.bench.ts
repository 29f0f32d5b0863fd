import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import autocannon from 'autocannon';
import { loadTestServices, parseConfig } from '../server/config/env.ts';
import { createDeps } from '../server/deps.ts';
import { createToken, register } from '../server/modules/auth/auth.service.ts';
import { entities } from '../server/modules/entities.ts';
import { withDbScope } from '../server/platform/db/context.ts';
import { createOrm } from '../server/platform/db/orm.ts';
import { createLogger } from '../server/platform/logger/logger.ts';
import { deleteKeys } from '../server/test/harness.ts';
import { printFigures } from './lib.ts';

const DURATION_S = 10;
const CONNECTIONS = 50;

function dbUrl(base: string, name: string) {
  const u = new URL(base);
  u.pathname = `/${name}`;
  return u.toString();
}

async function startChild(args: string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn('node_modules/.bin/tsx', ['bench/api-server.ts', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = buf.match(/LISTENING (\d+)/);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return { child, port };
}

async function load(url: string, headers: Record<string, string>) {
  // Warm-up: JIT, connection pools, prepared plans.
  await autocannon({ url, headers, connections: CONNECTIONS, duration: 2 });
  const r = await autocannon({ url, headers, connections: CONNECTIONS, duration: DURATION_S });
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99 };
}

export async function run(): Promise<void> {
  const services = loadTestServices();
  const dbName = `keel_bench_${Date.now()}`;
  const prefix = `keel:bench:${randomBytes(3).toString('hex')}:`;
  const env = {
    NODE_ENV: 'production',
    DATABASE_URL: dbUrl(services.pgUrl, dbName),
    REDIS_URL: services.redisUrl,
    KEY_PREFIX: prefix,
    SESSION_SECRET: randomBytes(24).toString('hex'),
    LOG_LEVEL: 'silent',
  };
  const orm = await createOrm({ databaseUrl: env.DATABASE_URL, pgliteDir: '', entities, poolMax: 2 });
  await orm.schema.ensureDatabase({ create: true });
  await orm.migrator.up();
  await orm.close(true);

  const deps = await createDeps(parseConfig(env), {
    logger: createLogger({ level: 'silent', pretty: false }),
  });
  const { organizationId, user } = await register(deps.em, {
    email: 'bench@example.test',
    password: 'bench-password-123',
    name: 'Bench',
    organizationName: 'Bench Org',
  });
  const secret = await withDbScope(deps.em, organizationId, async (em) => {
    const { secret } = await createToken(em, {
      organizationId,
      userId: user.id,
      role: 'owner',
      name: 'bench',
      abilities: ['read'],
    });
    return secret;
  });
  await deps.close();

  const children: ChildProcess[] = [];
  try {
    const bare = await startChild(['bare']);
    children.push(bare.child);
    const bareResult = await load(`http://127.0.0.1:${bare.port}/json`, {});
    bare.child.kill();

    const keel = await startChild(['keel', JSON.stringify(env)]);
    children.push(keel.child);
    const keelResult = await load(`http://127.0.0.1:${keel.port}/trpc/organization.current`, {
      authorization: `Bearer ${secret}`,
    });
    keel.child.kill();

    printFigures('api', [
      {
        name: 'tenant_query_rps',
        value: keelResult.rps,
        unit: 'req/s',
        baseline: bareResult.rps,
        goal: 'higher; bare Fastify is the ceiling',
      },
      {
        name: 'tenant_query_p50',
        value: keelResult.p50,
        unit: 'ms',
        baseline: bareResult.p50,
        goal: 'lower',
      },
      {
        name: 'tenant_query_p99',
        value: keelResult.p99,
        unit: 'ms',
        baseline: bareResult.p99,
        goal: 'lower',
      },
    ]);
  } finally {
    for (const c of children) c.kill();
    const admin = await createOrm({
      databaseUrl: dbUrl(services.pgUrl, 'postgres'),
      pgliteDir: '',
      entities,
      poolMax: 1,
    });
    await admin.em.getConnection().execute(`drop database if exists "${dbName}" with (force)`);
    await admin.close(true);
    await deleteKeys(services.redisUrl, prefix);
  }
}
