import { deepStrictEqual } from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { cpuMs, hit, prepareApiBench, startServerChild, type ApiBench } from './api-harness.ts';
import { median, printFigures, type Figure } from './lib.ts';

// Keel against the hand-written reference (bench/api-reference.ts: the same token check, membership and rows in one
// SQL round trip, the same JSON) for three calls, against stock tRPC doing the reference's work
// (bench/api-stock-trpc.ts) and against bare Fastify, in ONE run: every server stays up the whole run and the
// 4-second bursts rotate between them round after round, so a change in the machine's load hits both sides of a
// ratio alike. Ratios are medians of per-round ratios; "reference again" against "reference" in the same round is
// the run's noise floor. BENCH_ROUNDS and BENCH_BURST_S shorten it while developing.
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BURST_S = Number(process.env.BENCH_BURST_S ?? 4);
const FIXED_RATE = 200;

interface Server {
  child: ChildProcess;
  base: string;
}

const trpcInput = (json: unknown) => `?input=${encodeURIComponent(JSON.stringify({ json }))}`;

function calls(bench: ApiBench) {
  return [
    { name: 'org_current', path: '/trpc/organization.current' },
    { name: 'doc_get', path: `/trpc/documents.get${trpcInput({ id: bench.documentId })}` },
    { name: 'doc_list', path: `/trpc/documents.list${trpcInput({ limit: 25 })}` },
  ] as const;
}

async function start(
  mode: 'keel' | 'reference' | 'stock' | 'bare',
  env: Record<string, string>,
): Promise<Server> {
  const s = await startServerChild(mode, env);
  return { child: s.child, base: `http://127.0.0.1:${s.port}` };
}

async function stop(s: Server): Promise<void> {
  const exited = new Promise((resolve) => s.child.once('exit', resolve));
  s.child.kill();
  await exited;
}

/** Keel, the reference and stock tRPC must answer the same body (after parsing) before their speeds are compared. */
async function checkSameAnswers(bench: ApiBench, keel: Server, ref: Server, stock: Server): Promise<void> {
  const headers = { authorization: `Bearer ${bench.secret}` };
  for (const call of calls(bench)) {
    const [k, r, st] = await Promise.all(
      [keel, ref, stock].map(async (s) => {
        const res = await fetch(s.base + call.path, { headers });
        if (res.status !== 200) throw new Error(`${call.name}: ${s.base} answered ${res.status}`);
        return (await res.json()) as unknown;
      }),
    );
    deepStrictEqual(r, k, `${call.name}: the reference's answer differs from Keel's`);
    deepStrictEqual(st, k, `${call.name}: stock tRPC's answer differs from Keel's`);
  }
  // A page of the list must be a full page with a cursor, or the list call measures less than it claims.
  const list = await fetch(ref.base + calls(bench)[2].path, { headers });
  const body = (await list.json()) as {
    result: { data: { json: { items: unknown[]; nextCursor: string | null } } };
  };
  if (body.result.data.json.items.length !== 25 || !body.result.data.json.nextCursor) {
    throw new Error('documents.list did not answer a full page of 25 with a next cursor');
  }
}

/** Statements and Redis commands the server has sent so far (bench/api-server.ts, BENCH_COUNT=1). */
export function counts(s: Server): Promise<{ pg: number; redis: number }> {
  return new Promise((resolve) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      const m = buf.match(/COUNTS (\d+) (\d+)/);
      if (!m) return;
      s.child.stdout!.off('data', onData);
      resolve({ pg: Number(m[1]), redis: Number(m[2]) });
    };
    s.child.stdout!.on('data', onData);
    s.child.kill('SIGUSR2');
  });
}

/** Round trips per request over a fixed number of requests (Keel's: counted inside requests only). */
async function roundTrips(s: Server, url: string, headers: Record<string, string>) {
  const requests = 100;
  const before = await counts(s);
  await hit(url, headers, { amount: requests }, { connections: 10 });
  await settle(s);
  const after = await counts(s);
  return { pg: (after.pg - before.pg) / requests, redis: (after.redis - before.redis) / requests };
}

/**
 * Waits until the server has stopped working (its CPU time stands still for 200 ms, at most 10 s): a server slower
 * than the load generator still holds requests when a burst ends, and draining them must not overlap the next burst.
 */
export async function settle(s: Server): Promise<void> {
  const pid = s.child.pid!;
  for (let i = 0; i < 50; i++) {
    const before = cpuMs(pid);
    await new Promise((r) => setTimeout(r, 200));
    if (cpuMs(pid) - before <= 10) return;
  }
}

/** CPU time of the server per request while it serves a fixed rate (well below its limit when the machine is quiet). */
async function cpuPerRequest(s: Server, url: string, headers: Record<string, string>) {
  const pid = s.child.pid!;
  const before = cpuMs(pid);
  const r = await hit(url, headers, { duration: BURST_S }, { connections: 10, overallRate: FIXED_RATE });
  await settle(s);
  // A server that answers nothing at this rate within the burst (a loaded machine) has no figure: NaN, not a guess.
  const us = r.requests.total ? ((cpuMs(pid) - before) * 1000) / r.requests.total : NaN;
  return { us, rate: r.requests.average };
}

export async function run(): Promise<void> {
  const bench = await prepareApiBench();
  const servers: Server[] = [];
  try {
    const count = { ...bench.env, BENCH_COUNT: '1' };
    const keel = await start('keel', count);
    servers.push(keel);
    const ref = await start('reference', count);
    servers.push(ref);
    const stock = await start('stock', bench.env);
    servers.push(stock);
    const bare = await start('bare', {});
    servers.push(bare);
    await checkSameAnswers(bench, keel, ref, stock);

    const headers = { authorization: `Bearer ${bench.secret}` };
    const burst = async (s: Server, path: string) => {
      const r = await hit(s.base + path, s === bare ? {} : headers, { duration: BURST_S });
      await settle(s);
      return { rps: r.requests.average, p99: r.latency.p99 };
    };
    // Warm-up: JIT, pools and caches of every server on every call.
    for (const call of calls(bench)) {
      await hit(keel.base + call.path, headers, { duration: 2 });
      await hit(ref.base + call.path, headers, { duration: 2 });
      await hit(stock.base + call.path, headers, { duration: 2 });
    }
    await hit(bare.base + '/json', {}, { duration: 2 });
    for (const s of servers) await settle(s);

    type Sample = { keel: number; ref: number; stock: number; keelP99: number; refP99: number };
    const samples = new Map<string, Sample[]>();
    const bareSamples: { keel: number; bare: number; keelP99: number; bareP99: number }[] = [];
    const noise: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const call of calls(bench)) {
        // Alternate which side goes first, so neither always follows the other's load.
        const first = round % 2 === 0;
        const a = await burst(first ? keel : ref, call.path);
        const b = await burst(first ? ref : keel, call.path);
        const [k, r] = first ? [a, b] : [b, a];
        // Stock tRPC right after Keel's and the reference's bursts of the same call (its ratios are to those).
        const st = await burst(stock, call.path);
        const list = samples.get(call.name) ?? [];
        list.push({ keel: k.rps, ref: r.rps, stock: st.rps, keelP99: k.p99, refP99: r.p99 });
        samples.set(call.name, list);
        if (call.name === 'org_current') {
          const again = await burst(ref, call.path);
          noise.push(again.rps / r.rps);
          const bareR = await burst(bare, '/json');
          bareSamples.push({ keel: k.rps, bare: bareR.rps, keelP99: k.p99, bareP99: bareR.p99 });
        }
      }
      process.stdout.write(`round ${round + 1}/${ROUNDS} done\n`);
    }

    const figures: Figure[] = [];
    for (const call of calls(bench)) {
      const s = samples.get(call.name)!;
      figures.push(
        {
          name: `${call.name}_rps`,
          value: median(s.map((x) => x.keel)),
          unit: 'req/s',
          baseline: median(s.map((x) => x.ref)),
          ratio: median(s.map((x) => x.keel / x.ref)),
          goal: 'higher; >=0.6 of the one-round-trip reference',
        },
        {
          name: `${call.name}_vs_stock_trpc_rps`,
          value: median(s.map((x) => x.keel)),
          unit: 'req/s',
          baseline: median(s.map((x) => x.stock)),
          ratio: median(s.map((x) => x.keel / x.stock)),
          goal: "higher; stock tRPC doing the reference's work: what Keel adds around a procedure",
        },
        {
          name: `${call.name}_stock_trpc_vs_reference_rps`,
          value: median(s.map((x) => x.stock)),
          unit: 'req/s',
          baseline: median(s.map((x) => x.ref)),
          ratio: median(s.map((x) => x.stock / x.ref)),
          goal: 'higher; what tRPC itself (validation, superjson, adapter) costs against hand-written Fastify',
        },
        {
          name: `${call.name}_p99`,
          value: median(s.map((x) => x.keelP99)),
          unit: 'ms',
          baseline: median(s.map((x) => x.refP99)),
          ratio: median(s.map((x) => x.keelP99 / x.refP99)),
          goal: 'lower',
        },
      );
    }
    figures.push(
      {
        name: 'reference_noise_rps',
        value: median(noise),
        unit: 'ratio',
        baseline: null,
        ratio: median(noise),
        goal: 'the noise floor: the same reference server twice in a round',
      },
      {
        name: 'org_current_vs_bare_rps',
        value: median(bareSamples.map((x) => x.keel)),
        unit: 'req/s',
        baseline: median(bareSamples.map((x) => x.bare)),
        ratio: median(bareSamples.map((x) => x.keel / x.bare)),
        goal: 'higher; bare Fastify is the ceiling',
      },
      {
        name: 'org_current_vs_bare_p99',
        value: median(bareSamples.map((x) => x.keelP99)),
        unit: 'ms',
        baseline: median(bareSamples.map((x) => x.bareP99)),
        goal: 'lower',
      },
    );

    // CPU per request at a fixed rate, Keel and reference alternating, two rounds, medians.
    for (const call of calls(bench)) {
      const k: number[] = [];
      const r: number[] = [];
      const rates: number[] = [];
      for (let round = 0; round < 2; round++) {
        const order = round % 2 === 0 ? [keel, ref] : [ref, keel];
        for (const s of order) {
          const c = await cpuPerRequest(s, s.base + call.path, headers);
          (s === keel ? k : r).push(c.us);
          if (s === keel) rates.push(c.rate);
        }
      }
      figures.push({
        name: `${call.name}_cpu_per_request`,
        value: Math.round(median(k)),
        unit: `us_at_${Math.round(median(rates))}_req/s`,
        baseline: Math.round(median(r)),
        goal: `lower; CPU of the server process at a fixed ${FIXED_RATE} req/s`,
      });
    }

    for (const call of calls(bench)) {
      for (const [side, s] of [
        ['keel', keel],
        ['reference', ref],
      ] as const) {
        const t = await roundTrips(s, s.base + call.path, headers);
        figures.push(
          {
            name: `${call.name}_${side}_db_statements_per_request`,
            value: Math.round(t.pg * 100) / 100,
            unit: 'statements',
            baseline: null,
            goal: 'lower; every statement is a round trip (begin/set_config/commit included)',
          },
          {
            name: `${call.name}_${side}_redis_commands_per_request`,
            value: Math.round(t.redis * 100) / 100,
            unit: 'commands',
            baseline: null,
            goal: 'lower',
          },
        );
      }
    }
    printFigures('api', figures);
  } finally {
    for (const s of servers) await stop(s);
    await bench.cleanup();
  }
}
