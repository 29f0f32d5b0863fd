import autocannon from 'autocannon';
import { startPostgres, type OwnPostgres } from '../server/test/own-postgres.ts';
import { startReplica, type OwnReplica } from '../server/test/own-replica.ts';
import { prepareApiBench, startKeelServer, type ApiBench, type KeelServer } from './api-harness.ts';
import { median, printFigures } from './lib.ts';

// `npm run bench -- replicas`: a read-heavy workload (a page of documents with a read-only API token, a user who
// never writes) against two Keel processes on the same primary: one reading only from it, one also given a
// streaming replica (DATABASE_REPLICA_URLS), both started on a primary + replica of the benchmark's own. Rounds
// alternate the order and measure the primary-only process twice: the ratio of those two identical measurements is
// the noise floor the replica ratio must be read against. On two cores shared by both PostgreSQL servers, Keel and
// the load generator, a replica adds no core: the figure is expected to be small.

const ROUNDS = 3;
const WARMUP_S = 2;
const DURATION_S = 8;
const CONNECTIONS = 20;

async function measure(url: string, headers: Record<string, string>) {
  const probe = await fetch(url, { headers });
  if (!probe.ok) throw new Error(`${url}: ${probe.status} ${await probe.text()}`);
  await autocannon({ url, headers, connections: CONNECTIONS, duration: WARMUP_S });
  const r = await autocannon({ url, headers, connections: CONNECTIONS, duration: DURATION_S });
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return { rps: r.requests.average, p99: r.latency.p99 };
}

const listUrl = (server: KeelServer) => {
  const u = new URL(server.url);
  u.pathname = '/trpc/documents.list';
  u.searchParams.set('input', JSON.stringify({ json: { limit: 25 } }));
  return u.toString();
};

export async function run(): Promise<void> {
  let primary: OwnPostgres | undefined;
  let replica: OwnReplica | undefined;
  let bench: ApiBench | undefined;
  const servers: KeelServer[] = [];
  try {
    primary = await startPostgres();
    // The bench environment's database is made on this primary (bench-env.ts reads TEST_PG_URL).
    process.env.TEST_PG_URL = primary.url;
    bench = await prepareApiBench();
    replica = await startReplica(primary);
    const database = new URL(bench.env.DATABASE_URL!).pathname.slice(1);
    const onlyPrimary = await startKeelServer(bench, {});
    servers.push(onlyPrimary);
    const withReplica = await startKeelServer(bench, { DATABASE_REPLICA_URLS: replica.urlOf(database) });
    servers.push(withReplica);
    const rows: { p: number; pAgain: number; r: number; p99P: number; p99R: number }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which setup goes first, so a drift in the machine's load does not favour one of them.
      const first = round % 2 === 0;
      const p1 = first ? await measure(listUrl(onlyPrimary), onlyPrimary.headers) : null;
      const r = await measure(listUrl(withReplica), withReplica.headers);
      const p2 = await measure(listUrl(onlyPrimary), onlyPrimary.headers);
      const p3 = first ? null : await measure(listUrl(onlyPrimary), onlyPrimary.headers);
      const [x, y] = first ? [p1!, p2] : [p2, p3!];
      rows.push({ p: x.rps, pAgain: y.rps, r: r.rps, p99P: x.p99, p99R: r.p99 });
      process.stdout.write(
        `round ${round + 1}: primary only ${x.rps.toFixed(0)} req/s, primary + replica ${r.rps.toFixed(0)} req/s, primary only again ${y.rps.toFixed(0)} req/s\n`,
      );
    }
    const primaryOnly = median(rows.map((row) => (row.p + row.pAgain) / 2));
    const noise = rows.map((row) => row.pAgain / row.p);
    printFigures('replicas', [
      { name: 'primary_only_rps', value: primaryOnly, unit: 'req/s', goal: 'higher' },
      {
        name: 'primary_and_replica_rps',
        value: median(rows.map((row) => row.r)),
        unit: 'req/s',
        baseline: primaryOnly,
        ratio: median(rows.map((row) => row.r / ((row.p + row.pAgain) / 2))),
        goal: 'higher (with replica / primary only, median of rounds)',
      },
      {
        name: 'noise_floor',
        value: Math.max(...noise.map((n) => Math.abs(Math.log(n)))),
        unit: 'abs_log_ratio',
        ratio: median(noise),
        goal: 'primary only / primary only of the same round: ratios within this are noise',
      },
      { name: 'primary_only_p99', value: median(rows.map((row) => row.p99P)), unit: 'ms', goal: 'lower' },
      {
        name: 'primary_and_replica_p99',
        value: median(rows.map((row) => row.p99R)),
        unit: 'ms',
        goal: 'lower',
      },
    ]);
  } finally {
    await Promise.allSettled(servers.map((s) => s.stop()));
    await bench?.cleanup().catch(() => undefined);
    await replica?.destroy();
    await primary?.destroy();
  }
}
