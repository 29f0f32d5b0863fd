import {
  cpuMs,
  hit,
  OBSERVABILITY_SETUPS as SETUPS,
  prepareApiBench,
  startKeelServer,
  type KeelServer,
  type ObservabilitySetup as SetupName,
} from './api-harness.ts';
import { median, printFigures } from './lib.ts';

/**
 * The tenant query with request/query metrics on, and with metrics plus OpenTelemetry tracing on (at the production
 * default of 10 % of new traces recorded, and with every trace recorded), against both off.
 *
 * What made earlier versions of this benchmark noisy, measured on the 2-core machine of RESULTS.md:
 * - warm-up: a fresh server's CPU time per request keeps falling for thousands of requests (6.5 → 4.5 ms there) as
 *   the JIT settles, and not at the same pace in every process. A warm-up of a few seconds measured half-warm
 *   servers; two identical servers warmed with 3,000 and 10,000 requests then differed by 7–16 % for minutes.
 * - drift: the load generator, PostgreSQL and Redis share the cores, and the machine's speed changes from one
 *   minute to the next (one server's 4-second bursts ranged from 266 to 605 req/s within a minute); setups measured
 *   one after the other, minutes apart, saw different machines.
 * - process luck: two identical, equally warmed servers can keep a 20 % gap between them for the whole run (one of
 *   them faster in 10 bursts of 12). With one process per setup, that gap is read as the setup's cost.
 *
 * So every server runs at once, BENCH_PROCS (default 2) processes per setup; each is warmed with WARMUP_REQUESTS
 * requests (a count, not a time: a slower machine needs as many); then BENCH_CYCLES (default 6) cycles load each
 * server in turn with a 4-second burst, in rotated order. Within a cycle every setup sees the same minute, so each
 * cycle gives one ratio per setup (the requests of all its processes against the baseline's); a figure is the median
 * of those ratios over every cycle.
 *
 * The baseline is two groups of servers with everything off: their mean is what the setups are compared with, and
 * their ratio to each other (`off_vs_off`) is printed as the run's noise floor. A setup's ratio means something only
 * as far as it stands further from 1 than that.
 *
 * Each burst also records the server's CPU time (user + system, `/proc`) per request. It does not depend on how much
 * of the cores the server got, but on this kind of machine it moves with the host's load as much as req/s does.
 * "≤ 10 % fewer requests per second" is "≤ 1.11× the CPU time".
 *
 * BENCH_ROUNDS (default 1) repeats it all with fresh processes; RESULTS.md says what each run used.
 */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);
const CYCLES = Number(process.env.BENCH_CYCLES ?? 6);
const PROCS = Number(process.env.BENCH_PROCS ?? 2);
const BURST_S = 4;
const WARMUP_REQUESTS = 10_000;

interface Burst {
  requests: number;
  /** Server CPU time per request, µs. */
  cpuUs: number;
  p99: number;
}

async function burst(server: KeelServer, length: { duration: number } | { amount: number }): Promise<Burst> {
  const before = cpuMs(server.pid);
  const r = await hit(server.url, server.headers, length);
  return {
    requests: r.requests.total,
    cpuUs: ((cpuMs(server.pid) - before) * 1000) / r.requests.total,
    p99: r.latency.p99,
  };
}

type Samples = Map<SetupName, number[]>;
const samples = (): Samples => new Map(SETUPS.map((s) => [s.name, []]));

export async function run(): Promise<void> {
  const bench = await prepareApiBench();
  const rps = samples();
  const cpu = samples();
  const rpsRatio = samples();
  const cpuRatio = samples();
  const p99 = samples();
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // Process-major order, so that one setup's processes are spread over the cycle rather than loaded back to back.
      const plan = Array.from({ length: PROCS }, () => SETUPS).flat();
      // Pools of 4, the same for every setup: 15 servers at the default 10 would pass PostgreSQL's 100 connections.
      const servers = await Promise.all(
        plan.map((s) => startKeelServer(bench, { ...s.env, DB_POOL_MAX: '4' }, { instrument: s.instrument })),
      );
      try {
        for (const server of servers) await burst(server, { amount: WARMUP_REQUESTS });
        process.stdout.write(
          `round ${round + 1}: ${PROCS} processes per setup, each warmed with ${WARMUP_REQUESTS} requests\n`,
        );
        for (let cycle = 0; cycle < CYCLES; cycle++) {
          const got = new Map<SetupName, Burst[]>(SETUPS.map((s) => [s.name, []]));
          for (let i = 0; i < plan.length; i++) {
            const at = (i + cycle + round) % plan.length;
            got.get(plan[at]!.name)!.push(await burst(servers[at]!, { duration: BURST_S }));
          }
          // A setup's cycle is the sum over its processes: requests, and CPU time per request.
          const total = (name: SetupName) => {
            const bs = got.get(name)!;
            const requests = bs.reduce((n, b) => n + b.requests, 0);
            return { requests, cpuUs: bs.reduce((n, b) => n + b.cpuUs * b.requests, 0) / requests };
          };
          const off = total('off');
          const off2 = total('off2');
          const baseRequests = (off.requests + off2.requests) / 2;
          const baseCpu = (off.cpuUs + off2.cpuUs) / 2;
          for (const { name } of SETUPS) {
            const t = total(name);
            rps.get(name)!.push(t.requests / BURST_S / PROCS);
            cpu.get(name)!.push(t.cpuUs);
            p99.get(name)!.push(median(got.get(name)!.map((b) => b.p99)));
            if (name === 'off') continue;
            // The noise floor compares the two baseline groups with each other; the rest, with their mean.
            rpsRatio.get(name)!.push(t.requests / (name === 'off2' ? off.requests : baseRequests));
            cpuRatio.get(name)!.push(t.cpuUs / (name === 'off2' ? off.cpuUs : baseCpu));
          }
          process.stdout.write(
            `  cycle ${cycle + 1}: ${SETUPS.map(({ name }) => {
              const bs = got.get(name)!;
              return `${name} ${bs.map((b) => (b.requests / BURST_S).toFixed(0)).join('/')} req/s ${total(name).cpuUs.toFixed(0)} µs`;
            }).join(' · ')}\n`,
          );
        }
      } finally {
        await Promise.all(servers.map((s) => s.stop()));
      }
    }
    for (const { name } of SETUPS.slice(1)) {
      const xs = [...rpsRatio.get(name)!].sort((a, b) => a - b);
      const q = (p: number) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]!.toFixed(3);
      process.stdout.write(`${name}: req/s ratio per cycle, quartiles ${q(0.25)} / ${q(0.5)} / ${q(0.75)}\n`);
    }
    const offRps = median([...rps.get('off')!, ...rps.get('off2')!]);
    const offCpu = median([...cpu.get('off')!, ...cpu.get('off2')!]);
    // Values are medians over the bursts; ratios are medians of the per-cycle ratios (each against the baseline
    // of its own cycle), so value / baseline can differ from the ratio printed.
    const figure = (name: string, setup: SetupName, unit: 'req/s' | 'µs/req', goal: string) => ({
      name,
      value: Math.round(median((unit === 'req/s' ? rps : cpu).get(setup)!)),
      unit,
      baseline: Math.round(unit === 'req/s' ? offRps : offCpu),
      ratio: median((unit === 'req/s' ? rpsRatio : cpuRatio).get(setup)!),
      goal,
    });
    printFigures('observability', [
      figure('off_vs_off_rps', 'off2', 'req/s', 'noise floor: ratio near 1.00'),
      figure('metrics_rps', 'metrics', 'req/s', 'ratio >= 0.90'),
      figure('metrics_tracing_rps', 'tracing10', 'req/s', 'ratio >= 0.90'),
      figure('metrics_tracing_all_rps', 'tracing100', 'req/s', 'ratio >= 0.90'),
      figure('off_vs_off_cpu', 'off2', 'µs/req', 'noise floor: ratio near 1.00'),
      figure('metrics_cpu', 'metrics', 'µs/req', 'ratio <= 1.11'),
      figure('metrics_tracing_cpu', 'tracing10', 'µs/req', 'ratio <= 1.11'),
      figure('metrics_tracing_all_cpu', 'tracing100', 'µs/req', 'ratio <= 1.11'),
      {
        name: 'metrics_tracing_p99',
        value: median(p99.get('tracing10')!),
        unit: 'ms',
        baseline: median([...p99.get('off')!, ...p99.get('off2')!]),
        goal: 'lower',
      },
    ]);
  } finally {
    await bench.cleanup();
  }
}
