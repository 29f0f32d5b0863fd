import pg from 'pg';
import { startServerChild } from './api-harness.ts';
import { counts, settle } from './api.bench.ts';
import { createBenchEnvironment } from './bench-env.ts';
import { percentile, printFigures, type Figure } from './lib.ts';
import { ROLE_ABILITIES, type Role } from '../shared/permissions.ts';
import { parseConfig } from '../server/config/env.ts';
import { createDeps } from '../server/deps.ts';
import { createToken } from '../server/modules/auth/auth.service.ts';
import { seedLarge } from '../server/modules/demo/demo.large.ts';
import { withDbScope } from '../server/platform/db/context.ts';
import { createLogger } from '../server/platform/logger/logger.ts';

// The tenant app's traffic against one Keel server (its own process): 1,000 users in 100 organizations (the demo
// seed's `--size large` statements, 10 users per organization), organizations picked by Zipf (s = 1: the busiest
// gets ~19 % of the calls, the quietest 0.2 %), a user of it uniformly, then one call of a fixed mix — dashboard,
// organization, lists, gets, document saves, activity — at a fixed concurrency for a fixed time. Every call must
// answer 200: one error fails the run. BENCH_DURATION_S (default 60) and BENCH_CONCURRENCY (default 32) change it.
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 60);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const WARMUP_S = Math.min(10, Math.max(2, DURATION_S / 6));
const ORGANIZATIONS = 100;
const USERS_PER_ORGANIZATION = 10;
const DOCUMENTS_PER_USER = 3;

interface User {
  organization: number;
  token: string;
  /** The user's first document, the one they save; its version as last saved. */
  document: { id: string; version: number };
  documents: string[];
}

interface Call {
  name: string;
  weight: number;
  /** Path and request options, or null when the user cannot make this call right now (their save is in flight). */
  request: (u: User) => { path: string; init?: RequestInit } | null;
}

const query = (procedure: string, input?: unknown) =>
  `/trpc/${procedure}${input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify({ json: input }))}`}`;

/** Saves a user's own document on the version they last saw; one save per document at a time, so never a CONFLICT. */
const saving = new Set<string>();

const CALLS: Call[] = [
  { name: 'dashboard', weight: 15, request: () => ({ path: query('dashboard.stats') }) },
  { name: 'org_current', weight: 10, request: () => ({ path: query('organization.current') }) },
  { name: 'members', weight: 5, request: () => ({ path: query('organization.members') }) },
  { name: 'doc_list', weight: 20, request: () => ({ path: query('documents.list', { limit: 25 }) }) },
  {
    name: 'doc_get',
    weight: 25,
    request: (u) => ({ path: query('documents.get', { id: pick(u.documents) }) }),
  },
  { name: 'activity', weight: 10, request: () => ({ path: query('activity.recent', { limit: 20 }) }) },
  {
    name: 'doc_save',
    weight: 15,
    request: (u) =>
      saving.has(u.document.id)
        ? null
        : {
            path: '/trpc/documents.update',
            init: {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({
                json: {
                  id: u.document.id,
                  baseVersion: u.document.version,
                  content: `Edited at ${Date.now()} by the workload.`,
                },
              }),
            },
          },
  },
];

// A seeded generator, so two runs draw the same sequence of organizations, users and calls.
let seed = 0x5eed;
function random(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;

/** Cumulative weights; draws an index in proportion to its weight. */
function sampler(weights: number[]): () => number {
  const total = weights.reduce((a, b) => a + b, 0);
  let sum = 0;
  const cumulative = weights.map((w) => (sum += w / total));
  return () => {
    const r = random();
    const i = cumulative.findIndex((c) => r < c);
    return i === -1 ? weights.length - 1 : i;
  };
}

/** 1,000 users with an API token each (their role's abilities) and three documents of their own each. */
async function seed1000(env: Record<string, string>): Promise<User[][]> {
  const deps = await createDeps(parseConfig(env), {
    logger: createLogger({ level: 'silent', pretty: false }),
  });
  try {
    await seedLarge(deps, { organizations: ORGANIZATIONS, usersPerOrganization: USERS_PER_ORGANIZATION });
    const client = new pg.Client({ connectionString: env.DATABASE_URL });
    await client.connect();
    try {
      await client.query(
        `insert into documents (id, organization_id, owner_id, title, content, version, public, created_at,
           updated_at)
         select gen_random_uuid(), m.organization_id, m.user_id, 'Document ' || i || ' of ' || u.name,
           repeat('Lorem ipsum dolor sit amet. ', 20), 1, true, now() - i * interval '1 minute', now()
         from memberships m join users u on u.id = m.user_id cross join generate_series(1, $1) i`,
        [DOCUMENTS_PER_USER],
      );
      const { rows } = await client.query<{
        slug: string;
        organization_id: string;
        user_id: string;
        role: Role;
        documents: string[];
      }>(
        `select o.slug, m.organization_id, m.user_id, m.role,
           array(select d.id from documents d where d.owner_id = m.user_id order by d.created_at) as documents
         from memberships m join organizations o on o.id = m.organization_id
         order by o.slug, m.user_id`,
      );
      const byOrganization: User[][] = [];
      for (const row of rows) {
        const organization = Number(row.slug.replace('load-', '')) - 1;
        const { secret } = await withDbScope(deps.em, row.organization_id, (em) =>
          createToken(em, {
            organizationId: row.organization_id,
            userId: row.user_id,
            grantorAbilities: ROLE_ABILITIES[row.role],
            name: 'workload',
            abilities: ['read', 'write'],
          }),
        );
        (byOrganization[organization] ??= []).push({
          organization,
          token: secret,
          document: { id: row.documents[0]!, version: 1 },
          documents: row.documents,
        });
      }
      return byOrganization;
    } finally {
      await client.end();
    }
  } finally {
    await deps.close();
  }
}

interface Outcome {
  call: string;
  ms: number;
}

/** `CONCURRENCY` clients, each sending its next call when the last one answered, until `until`. */
async function drive(
  base: string,
  organizations: User[][],
  until: number,
  errors: string[],
): Promise<Outcome[]> {
  // Zipf over the organizations (rank 1 = load-0001), then the call mix.
  const organizationOf = sampler(organizations.map((_, rank) => 1 / (rank + 1)));
  const callOf = sampler(CALLS.map((c) => c.weight));
  const outcomes: Outcome[] = [];
  const client = async () => {
    while (Date.now() < until) {
      const user = pick(organizations[organizationOf()]!);
      const call = CALLS[callOf()]!;
      const req = call.request(user);
      // This user's save is still in flight (another client drew them): draw again.
      if (!req) continue;
      const name = call.name;
      if (name === 'doc_save') saving.add(user.document.id);
      const started = performance.now();
      try {
        const res = await fetch(base + req.path, {
          ...req.init,
          headers: {
            ...(req.init?.headers as Record<string, string>),
            authorization: `Bearer ${user.token}`,
          },
        });
        const text = await res.text();
        outcomes.push({ call: name, ms: performance.now() - started });
        if (res.status !== 200) {
          errors.push(`${name} ${res.status} ${text.slice(0, 200)}`);
          continue;
        }
        if (name === 'doc_save') {
          const body = JSON.parse(text) as { result: { data: { json: { version: number } } } };
          user.document.version = body.result.data.json.version;
        }
      } catch (err) {
        errors.push(`${name} ${(err as Error).message}`);
      } finally {
        if (name === 'doc_save') saving.delete(user.document.id);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, client));
  return outcomes;
}

export async function run(): Promise<void> {
  const { env, cleanup } = await createBenchEnvironment('workload');
  try {
    const started = Date.now();
    const organizations = await seed1000(env);
    process.stdout.write(`seeded 1,000 users and tokens in ${Math.round((Date.now() - started) / 1000)} s\n`);
    // BENCH_COUNT=1: the server counts the statements and Redis commands it sends inside requests.
    const { child, port } = await startServerChild('keel', { ...env, BENCH_COUNT: '1' });
    const server = { child, base: `http://127.0.0.1:${port}` };
    try {
      const errors: string[] = [];
      await drive(server.base, organizations, Date.now() + WARMUP_S * 1000, errors);
      await settle(server);
      const before = await counts(server);
      const t0 = performance.now();
      const outcomes = await drive(server.base, organizations, Date.now() + DURATION_S * 1000, errors);
      const seconds = (performance.now() - t0) / 1000;
      await settle(server);
      const after = await counts(server);
      if (errors.length) {
        throw new Error(`${errors.length} failed calls, the first: ${errors.slice(0, 5).join(' | ')}`);
      }
      const ms = outcomes.map((o) => o.ms).sort((a, b) => a - b);
      const figures: Figure[] = [
        { name: 'requests_per_s', value: outcomes.length / seconds, unit: 'req/s', goal: 'higher' },
        { name: 'p50', value: percentile(ms, 50), unit: 'ms', goal: 'lower' },
        { name: 'p95', value: percentile(ms, 95), unit: 'ms', goal: 'lower' },
        { name: 'p99', value: percentile(ms, 99), unit: 'ms', goal: 'lower' },
        {
          name: 'db_statements_per_request',
          value: (after.pg - before.pg) / outcomes.length,
          unit: 'statements',
          goal: 'lower',
        },
        {
          name: 'redis_commands_per_request',
          value: (after.redis - before.redis) / outcomes.length,
          unit: 'commands',
          goal: 'lower',
        },
        { name: 'errors', value: errors.length, unit: 'calls', goal: 'zero' },
      ];
      for (const call of CALLS) {
        const own = outcomes
          .filter((o) => o.call === call.name)
          .map((o) => o.ms)
          .sort((a, b) => a - b);
        figures.push({ name: `${call.name}_p50`, value: percentile(own, 50), unit: 'ms', goal: 'lower' });
        figures.push({
          name: `${call.name}_share`,
          value: own.length / outcomes.length,
          unit: 'fraction',
          goal: 'mix',
        });
      }
      process.stdout.write(
        `${outcomes.length} calls in ${seconds.toFixed(1)} s at concurrency ${CONCURRENCY}, 0 errors\n`,
      );
      printFigures('workload', figures);
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill();
      await exited;
    }
  } finally {
    await cleanup();
  }
}
