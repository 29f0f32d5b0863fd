import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  hit,
  OBSERVABILITY_SETUPS as SETUPS,
  prepareApiBench,
  startKeelServer,
  type KeelServer,
  type ObservabilitySetup as SetupName,
} from './api-harness.ts';
import { callgrindInstructions, printFigures } from './lib.ts';

/**
 * The observability overhead counted in instructions rather than seconds: every server runs under valgrind's callgrind,
 * and the figure is instructions executed per tenant query (all of the process's threads: JIT compilers and GC
 * included), metrics and tracing on against off.
 *
 * Why: on the 2-core machine of RESULTS.md, req/s of two identical servers measured in the same minute differ by
 * −11 % to +18 % from one burst to the next, wider than the 10 % the goal allows, so `bench observability` cannot tell a
 * 4 % cost from a 12 % one. An instruction count does not depend on how much of the cores a process got, so every
 * server runs at once.
 *
 * It is not free of noise, though (measured, RESULTS.md seventh session): work comes in lumps that requests do not
 * pace (an idle server ran 420 M instructions in one 30-second stretch and ~30 M in the next ones; V8's heap upkeep is
 * the likely cause), so windows of 500 requests differed by up to 74 % within one server, and the level still falls
 * from one window to the next after 10,000 warm-up requests, in every server alike. Hence windows of several
 * thousand requests, ratios paired by window (the servers' n-th windows cover the same minutes), and two "off"
 * servers whose ratio is the run's noise floor.
 *
 * What it does not see: time in the kernel (the same system calls in every setup, but for the metrics' periodic
 * flushes to Redis), and cache and branch behaviour (instructions are not cycles). Timer-driven work is overweighted,
 * as a request takes many times longer under valgrind; that counts against the setups with metrics (their flushes).
 *
 * Each server is warmed with BENCH_WARMUP requests (default 10,000, as `bench observability` does; uninstrumented:
 * callgrind only translates code until told to count), then counted over BENCH_WINDOWS windows (default 3) of
 * BENCH_WINDOW requests (default 4,000). All five setups took ~40 minutes on the 2-core machine.
 */
const WARMUP = Number(process.env.BENCH_WARMUP ?? 10_000);
const WINDOW = Number(process.env.BENCH_WINDOW ?? 4000);
const WINDOWS = Number(process.env.BENCH_WINDOWS ?? 3);
// Few connections: a server under callgrind answers a few requests a second, and autocannon's 10-second timeout
// would count queued requests as errors.
const LOAD = { connections: 4, timeoutS: 600 };

const FIGURE: Record<SetupName, string> = {
  off: 'off_instr',
  off2: 'off_vs_off_instr',
  metrics: 'metrics_instr',
  tracing10: 'metrics_tracing_instr',
  tracing100: 'metrics_tracing_all_instr',
};
// BENCH_SETUPS=off,off2,tracing10 counts fewer servers, each sooner (they share the cores); the two "off" always run.
const chosen = (process.env.BENCH_SETUPS ?? SETUPS.map((s) => s.name).join(',')).split(',');
const RUN = SETUPS.filter((s) => s.name === 'off' || s.name === 'off2' || chosen.includes(s.name));

/** Runs `callgrind_control <args> <pid>` against a server's callgrind run; its answer. */
function callgrind(pid: number, ...args: string[]): string {
  return execFileSync('callgrind_control', [...args, String(pid)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
}

async function count(server: KeelServer, name: string): Promise<number[]> {
  await hit(server.url, server.headers, { amount: WARMUP }, LOAD);
  callgrind(server.pid, '--instr=on');
  const perRequest: number[] = [];
  for (let w = 0; w < WINDOWS; w++) {
    callgrind(server.pid, '--zero');
    await hit(server.url, server.headers, { amount: WINDOW }, LOAD);
    perRequest.push(callgrindInstructions(callgrind(server.pid, '-e', 'Ir')) / WINDOW);
    process.stdout.write(
      `  ${name} window ${w + 1}: ${Math.round(perRequest.at(-1)!).toLocaleString('en')} instr/req\n`,
    );
  }
  return perRequest;
}

export async function run(): Promise<void> {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('valgrind is not installed (Debian: apt-get install -y valgrind)');
  }
  const bench = await prepareApiBench();
  const out = mkdtempSync(path.join(tmpdir(), 'keel-callgrind-'));
  const servers: KeelServer[] = [];
  try {
    for (const s of RUN) {
      servers.push(
        await startKeelServer(
          bench,
          { ...s.env, DB_POOL_MAX: '4' },
          {
            instrument: s.instrument,
            wrap: [
              'valgrind',
              '--tool=callgrind',
              '--instr-atstart=no',
              // V8 writes machine code into memory it then runs: valgrind must notice code that changes.
              '--smc-check=all-non-file',
              `--callgrind-out-file=${path.join(out, `${s.name}.%p`)}`,
            ],
          },
        ),
      );
    }
    process.stdout.write(`${servers.length} servers under callgrind; warming each with ${WARMUP} requests\n`);
    const counts = await Promise.all(RUN.map((s, i) => count(servers[i]!, s.name)));
    const perRequest = new Map(RUN.map((s, i) => [s.name, counts[i]!]));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const of = (name: SetupName, w: number) => perRequest.get(name)![w]!;
    // Paired by window: the servers run at once, so their n-th windows cover the same minutes (and, as measured, a
    // level that still moves between windows in every server alike). A ratio is the mean of the per-window ratios.
    const windows = Array.from({ length: WINDOWS }, (_, w) => w);
    const ratios = (name: SetupName) =>
      windows.map((w) =>
        name === 'off2' ? of('off2', w) / of('off', w) : of(name, w) / ((of('off', w) + of('off2', w)) / 2),
      );
    for (const { name } of RUN.filter((s) => s.name !== 'off')) {
      process.stdout.write(
        `${name}: per-window ratios ${ratios(name)
          .map((r) => r.toFixed(3))
          .join(' / ')}\n`,
      );
    }
    const base = mean([...perRequest.get('off')!, ...perRequest.get('off2')!]);
    printFigures(
      'observability-instructions',
      RUN.filter((s) => s.name !== 'off').map(({ name }) => ({
        name: FIGURE[name],
        value: Math.round(mean(perRequest.get(name)!)),
        unit: 'instr/req',
        baseline: Math.round(name === 'off2' ? mean(perRequest.get('off')!) : base),
        // The noise floor compares the two "off" servers with each other; the rest, with their mean.
        ratio: mean(ratios(name)),
        goal: name === 'off2' ? 'noise floor: ratio near 1.00' : 'ratio <= 1.11',
      })),
    );
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await bench.cleanup();
    rmSync(out, { recursive: true, force: true });
  }
}
