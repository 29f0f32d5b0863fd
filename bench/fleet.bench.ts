import autocannon from 'autocannon';
import { startBalancer } from '../server/test/fleet/haproxy.ts';
import { prepareApiBench, startKeelServer, type KeelServer } from './api-harness.ts';
import { median, printFigures } from './lib.ts';

// `npm run bench -- fleet`: a read-heavy workload (the tenant query with a bearer token, as bench/api) through
// HAProxy with the shipped haproxy.cfg, to one API node and to two. Both Keel processes run for the whole
// benchmark; "one" balances over node A twice, "two" over A and B. Rounds alternate the order, and each round also
// measures "one" a second time: the ratio of those two identical setups is the noise floor the scaling ratio must
// be read against. On two cores shared by HAProxy, the load generator, PostgreSQL, Redis and the nodes, a second
// node adds no core: the figure is expected to be small.

const ROUNDS = 3;
const WARMUP_S = 2;
const DURATION_S = 8;
const CONNECTIONS = 50;

async function measure(backends: [string, string], path: string, headers: Record<string, string>) {
  // Checks far apart: a node saturated by the benchmark answers /readyz late, and a check timing out would take
  // it out of the rotation mid-measurement (the tests use 500 ms to see a dead node quickly).
  const lb = await startBalancer(backends, { checkInter: '10s' });
  try {
    const url = `${lb.url}${path}`;
    await autocannon({ url, headers, connections: CONNECTIONS, duration: WARMUP_S });
    const r = await autocannon({ url, headers, connections: CONNECTIONS, duration: DURATION_S });
    if (r.non2xx > 0 || r.errors > 0) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`);
    return { rps: r.requests.average, p99: r.latency.p99 };
  } finally {
    await lb.stop();
  }
}

export async function run(): Promise<void> {
  const bench = await prepareApiBench();
  const nodes: KeelServer[] = [];
  try {
    nodes.push(await startKeelServer(bench, {}), await startKeelServer(bench, {}));
    const [a, b] = nodes.map((n) => new URL(n.url)) as [URL, URL];
    const path = a.pathname;
    const one: [string, string] = [a.host, a.host];
    const two: [string, string] = [a.host, b.host];
    const rows: { one: number; oneAgain: number; two: number; p99One: number; p99Two: number }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which setup goes first, so a drift in the machine's load does not favour one of them.
      const first = round % 2 === 0;
      const r1 = first ? await measure(one, path, nodes[0]!.headers) : null;
      const r2 = await measure(two, path, nodes[0]!.headers);
      const r3 = await measure(one, path, nodes[0]!.headers);
      const r4 = first ? null : await measure(one, path, nodes[0]!.headers);
      const [x, y] = first ? [r1!, r3] : [r3, r4!];
      rows.push({ one: x.rps, oneAgain: y.rps, two: r2.rps, p99One: x.p99, p99Two: r2.p99 });
      process.stdout.write(
        `round ${round + 1}: one ${x.rps.toFixed(0)} req/s, two ${r2.rps.toFixed(0)} req/s, one again ${y.rps.toFixed(0)} req/s\n`,
      );
    }
    const scaling = median(rows.map((r) => r.two / ((r.one + r.oneAgain) / 2)));
    const noise = rows.map((r) => r.oneAgain / r.one);
    printFigures('fleet', [
      {
        name: 'one_node_rps',
        value: median(rows.map((r) => (r.one + r.oneAgain) / 2)),
        unit: 'req/s',
        goal: 'higher',
      },
      {
        name: 'two_nodes_rps',
        value: median(rows.map((r) => r.two)),
        unit: 'req/s',
        baseline: median(rows.map((r) => (r.one + r.oneAgain) / 2)),
        ratio: scaling,
        goal: 'higher (two nodes / one, median of rounds)',
      },
      {
        name: 'noise_floor',
        value: Math.max(...noise.map((n) => Math.abs(Math.log(n)))),
        unit: 'abs_log_ratio',
        ratio: median(noise),
        goal: 'one/one of the same round: ratios within this are noise',
      },
      { name: 'one_node_p99', value: median(rows.map((r) => r.p99One)), unit: 'ms', goal: 'lower' },
      { name: 'two_nodes_p99', value: median(rows.map((r) => r.p99Two)), unit: 'ms', goal: 'lower' },
    ]);
    process.stdout.write(
      `noise (one again / one, per round): ${noise.map((n) => n.toFixed(3)).join(' ')}; scaling (two / mean of ones): ${rows
        .map((r) => (r.two / ((r.one + r.oneAgain) / 2)).toFixed(3))
        .join(' ')}\n`,
    );
  } finally {
    await Promise.allSettled(nodes.map((n) => n.stop()));
    await bench.cleanup();
  }
}
