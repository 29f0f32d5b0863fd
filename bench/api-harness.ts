import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import pg from 'pg';
import { createBenchEnvironment } from './bench-env.ts';
import { parseConfig } from '../server/config/env.ts';
import { createDeps } from '../server/deps.ts';
import { createToken, createAccount } from '../server/modules/auth/auth.service.ts';
import { hashPassword } from '../server/modules/auth/password.ts';
import { withDbScope } from '../server/platform/db/context.ts';
import { createLogger } from '../server/platform/logger/logger.ts';

const CONNECTIONS = 50;

export interface ApiBench {
  env: Record<string, string>;
  /** A read-only API token of a fresh organization. */
  secret: string;
  /** A public document of that organization, in the middle of its 100. */
  documentId: string;
  cleanup(): Promise<void>;
}

/** A fresh migrated database with one organization and token, and a Redis key prefix of its own. */
export async function prepareApiBench(): Promise<ApiBench> {
  const { env, cleanup } = await createBenchEnvironment('api');
  const deps = await createDeps(parseConfig(env), {
    logger: createLogger({ level: 'silent', pretty: false }),
  });
  const { organizationId, user } = await createAccount(deps.em, {
    email: 'bench@example.test',
    passwordHash: await hashPassword('bench-password-123'),
    name: 'Bench',
    organizationName: 'Bench Org',
  });
  const secret = await withDbScope(deps.em, organizationId, async (em) => {
    const created = await createToken(em, {
      organizationId,
      userId: user.id,
      grantorAbilities: ['read'],
      name: 'b',
      abilities: ['read'],
    });
    return created.secret;
  });
  await deps.close();
  if (!env.DATABASE_URL) throw new Error('the bench environment has no DATABASE_URL');
  const documentId = await seedDocuments(env.DATABASE_URL, organizationId, user.id);
  return { env, secret, documentId, cleanup };
}

/**
 * 100 documents of ~560 bytes of content, one minute apart, one in ten private to the bench user (the token's own,
 * so every one is visible: the list and get calls read the visibility rule without filtering rows out).
 */
async function seedDocuments(databaseUrl: string, organizationId: string, userId: string): Promise<string> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(
      `insert into documents (id, organization_id, owner_id, title, content, version, public, updated_by_id,
         created_at, updated_at)
       select gen_random_uuid(), $1, $2, 'Document ' || i, repeat('Lorem ipsum dolor sit amet. ', 20), 1 + i % 5,
         i % 10 <> 0, case when i % 3 = 0 then $2::uuid end, now() - interval '1 day' - i * interval '1 minute',
         now() - i * interval '1 minute'
       from generate_series(1, 100) i`,
      [organizationId, userId],
    );
    const { rows } = await client.query<{ id: string }>(
      `select id from documents where organization_id = $1 and title = 'Document 51'`,
      [organizationId],
    );
    return rows[0]!.id;
  } finally {
    await client.end();
  }
}

/** Starts bench/api-server.ts in its own process (so load generator and server do not share an event loop). */
export async function startServerChild(
  mode: 'bare' | 'keel' | 'reference' | 'stock',
  env: Record<string, string> = {},
  opts: { instrument?: boolean; wrap?: string[] } = {},
): Promise<{ child: ChildProcess; port: number }> {
  const args = [
    ...(opts.instrument ? ['--import', './server/instrument.ts'] : []),
    'bench/api-server.ts',
    mode,
    JSON.stringify(env),
  ];
  // The child's configuration comes from argv (parsed by server/config); server/instrument.ts reads the environment.
  // Every child gets the same environment, so that setups differ only in what they are asked to differ in (libraries
  // read NODE_ENV themselves). Node itself with tsx as a loader (not the tsx wrapper): the child's pid is the server's.
  // `wrap` runs Node under another program (valgrind); the pid is then that program's, which is the same process.
  const [command, ...prefix] = [...(opts.wrap ?? []), process.execPath];
  const child = spawn(command!, [...prefix, '--import', 'tsx', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { PATH: process.env.PATH, ...env },
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

/** One autocannon run against `url`; any non-2xx answer or socket error fails the benchmark. */
export async function hit(
  url: string,
  headers: Record<string, string>,
  length: { duration: number } | { amount: number },
  opts: {
    connections?: number;
    timeoutS?: number;
    /** A fixed rate, requests per second over all connections, instead of as fast as the server answers. */
    overallRate?: number;
  } = {},
): Promise<autocannon.Result> {
  const r = await autocannon({
    url,
    headers,
    connections: opts.connections ?? CONNECTIONS,
    ...(opts.timeoutS ? { timeout: opts.timeoutS } : {}),
    ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
    ...length,
  });
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return r;
}

/** User + system CPU time of a process so far, in ms (Linux `/proc`). */
export function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime, in clock ticks of 10 ms.
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

export interface KeelServer {
  /** The tenant query. */
  url: string;
  headers: Record<string, string>;
  pid: number;
  /** Stops the server and waits for it to exit. */
  stop(): Promise<void>;
}

/** Keel in a child process serving the tenant query with the bench's token. */
export async function startKeelServer(
  bench: ApiBench,
  env: Record<string, string>,
  opts: { instrument?: boolean; wrap?: string[] } = {},
): Promise<KeelServer> {
  const server = await startServerChild('keel', { ...bench.env, ...env }, opts);
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  return {
    url: `http://127.0.0.1:${server.port}/trpc/organization.current`,
    headers: { authorization: `Bearer ${bench.secret}` },
    pid: server.child.pid!,
    async stop() {
      server.child.kill();
      await exited;
    },
  };
}

const traced = { METRICS_ENABLED: 'true', OTEL_ENABLED: 'true' };
/**
 * The observability benchmarks' servers: two with everything off (their ratio to each other is the run's noise
 * floor), metrics only, and metrics + tracing at the production default of 10 % of new traces and at every trace.
 */
export const OBSERVABILITY_SETUPS = [
  { name: 'off', env: { METRICS_ENABLED: 'false' }, instrument: false },
  { name: 'off2', env: { METRICS_ENABLED: 'false' }, instrument: false },
  { name: 'metrics', env: { METRICS_ENABLED: 'true' }, instrument: false },
  { name: 'tracing10', env: { ...traced, OTEL_TRACES_SAMPLE_RATIO: '0.1' }, instrument: true },
  { name: 'tracing100', env: { ...traced, OTEL_TRACES_SAMPLE_RATIO: '1' }, instrument: true },
] as const;
export type ObservabilitySetup = (typeof OBSERVABILITY_SETUPS)[number]['name'];
