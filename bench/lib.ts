import os from 'node:os';

/** One figure of a benchmark, printed as the machine-readable line DESIGN.md specifies. */
export interface Figure {
  name: string;
  value: number;
  unit: string;
  baseline?: number | null;
  /** When the benchmark compares paired samples (a median of per-round ratios), that ratio; else value / baseline. */
  ratio?: number;
  /** How to read the ratio: "higher" when more is better (throughput), "lower" for latencies. */
  goal: string;
}

const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toPrecision(4));

export function benchLine(bench: string, f: Figure): string {
  const ratio = f.ratio ?? (f.baseline ? f.value / f.baseline : null);
  return `BENCH ${bench}.${f.name} value=${fmt(f.value)} unit=${f.unit} baseline=${
    f.baseline == null ? '-' : fmt(f.baseline)
  } ratio=${ratio == null ? '-' : ratio.toFixed(3)} goal=${f.goal.replace(/\s+/g, '_')}`;
}

export function printFigures(bench: string, figures: Figure[]): void {
  process.stdout.write(
    `\n# ${bench} on ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}\n`,
  );
  for (const f of figures) process.stdout.write(benchLine(bench, f) + '\n');
}

/**
 * The median: the middle value, or the mean of the two middle values of an even count. (web and fleet take an odd
 * number of samples, so their figures are the middle sample itself.)
 */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

/**
 * The instruction count in what `callgrind_control -e Ir <pid>` printed: "Totals: Ir" and then one "Th <n> <count>"
 * line per thread, summed (V8 compiles and collects garbage on threads of its own).
 */
export function callgrindInstructions(out: string): number {
  const counts = [...out.matchAll(/^\s*Th\s+\d+\s+([\d,]+)\s*$/gm)].map((m) =>
    Number(m[1]!.replaceAll(',', '')),
  );
  if (!counts.length) throw new Error(`no instruction count in callgrind_control's answer:\n${out}`);
  return counts.reduce((a, b) => a + b, 0);
}
