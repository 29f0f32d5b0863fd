import os from 'node:os';
import { runSoak } from '../server/test/fleet/soak.ts';
import { formatVerdicts, judge } from '../server/test/fleet/soak-verdict.ts';
import { printFigures, type Figure } from './lib.ts';

// `npm run bench -- soak`: issue 18's soak. A real `keel serve` and `keel work` under 20 clients of mixed traffic
// (sign-in, reads, saves, live subscriptions, exports, imports) for SOAK_MINUTES (default 10: longer than the
// two minutes other benchmarks take, because leaks need time to show). Prints every series that moved with its
// verdict (slope after the first minute against what the traffic explains), then BENCH lines. No baseline: the
// figures are growth rates whose goal is zero.
export async function run(): Promise<void> {
  const minutes = Number(process.env.SOAK_MINUTES ?? 10);
  const result = await runSoak({
    durationMs: minutes * 60_000,
    sampleEveryMs: minutes > 2 ? 15_000 : 5_000,
    log: (line) => process.stdout.write(`${line}\n`),
  });
  const warmup = Math.min(1, result.minutes / 5);
  const verdicts = judge(result, warmup);
  process.stdout.write(
    `\n# soak: ${result.clients} clients in ${result.organizations} organizations, ${result.minutes.toFixed(1)} min on ${os.cpus().length} cores\n`,
  );
  process.stdout.write(`${JSON.stringify(result.counters)}\n`);
  // Errors by kind (the client number and ids taken out), then the first few as they were.
  const kinds = new Map<string, number>();
  for (const e of result.errors) {
    const kind = e
      .replace(/^client \d+ /, '')
      .replace(/[0-9a-f-]{36}|\d+←\d+@\d+/g, '…')
      .slice(0, 160);
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  process.stdout.write(`errors: ${result.errors.length}\n`);
  for (const [kind, n] of kinds) process.stdout.write(`  ${String(n).padStart(4)} × ${kind}\n`);
  process.stdout.write(`${result.errors.slice(0, 10).join('\n')}\n\n`);
  process.stdout.write(`${formatVerdicts(verdicts)}\n`);
  const memory = (name: string) => verdicts.find((v) => v.series === name);
  const figures: Figure[] = [
    { name: 'errors', value: result.errors.length, unit: 'errors', goal: 'zero' },
    { name: 'calls_per_min', value: result.counters.calls / result.minutes, unit: 'calls/min', goal: 'info' },
    ...['api rss', 'api heapUsed', 'worker rss', 'worker heapUsed'].map((s) => ({
      name: `${s.replace(' ', '_')}_slope`,
      value: Number((memory(s)?.perMinute ?? 0).toFixed(3)),
      unit: 'MB/min',
      goal: 'flat',
    })),
    {
      name: 'unexplained_series',
      value: verdicts.filter((v) => v.kind === 'UNEXPLAINED' || v.kind === 'GROWING').length,
      unit: 'series',
      goal: 'zero',
    },
  ];
  printFigures('soak', figures);
}
