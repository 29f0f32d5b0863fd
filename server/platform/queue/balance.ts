import type { SupervisorConfig } from './settings.ts';

export interface QueueLoad {
  waiting: number;
  /** Recent average runtime in ms (for the `time` strategy). */
  avgRuntimeMs: number;
}

/**
 * Concurrency per queue for one balancing round, Horizon style. `simple` splits maxProcesses evenly. `auto` gives
 * each queue at least minProcesses and shares the rest in proportion to its workload (waiting jobs, or waiting ×
 * runtime with `time`), moving at most balanceMaxShift per queue per round so a burst does not thrash workers.
 */
export function balance(
  cfg: Pick<
    SupervisorConfig,
    'balance' | 'autoScalingStrategy' | 'minProcesses' | 'maxProcesses' | 'balanceMaxShift'
  >,
  queues: string[],
  current: Record<string, number>,
  load: Record<string, QueueLoad>,
): Record<string, number> {
  const n = queues.length;
  if (!n) return {};
  const min = Math.max(0, cfg.minProcesses);
  const max = Math.max(cfg.maxProcesses, min * n);
  if (cfg.balance === 'simple') {
    const each = Math.floor(max / n);
    let extra = max - each * n;
    return Object.fromEntries(queues.map((q) => [q, Math.max(min, each + (extra-- > 0 ? 1 : 0))]));
  }
  const weight = (q: string) => {
    const l = load[q] ?? { waiting: 0, avgRuntimeMs: 0 };
    return cfg.autoScalingStrategy === 'time' ? l.waiting * Math.max(1, l.avgRuntimeMs) : l.waiting;
  };
  const weights = queues.map(weight);
  const totalWeight = weights.reduce((a, b) => a + b, 0);
  const spare = max - min * n;
  const target: Record<string, number> = {};
  if (totalWeight === 0) {
    for (const q of queues) target[q] = min;
  } else {
    // Largest-remainder apportionment of the spare slots.
    const exact = weights.map((w) => (w / totalWeight) * spare);
    const floors = exact.map(Math.floor);
    let left = spare - floors.reduce((a, b) => a + b, 0);
    const order = exact.map((e, i) => [e - floors[i]!, i] as const).sort((a, b) => b[0] - a[0]);
    for (const [, i] of order) {
      if (left <= 0) break;
      if (weights[i]! > 0) {
        floors[i]! += 1;
        left -= 1;
      }
    }
    queues.forEach((q, i) => (target[q] = min + floors[i]!));
  }
  const shift = Math.max(1, cfg.balanceMaxShift);
  const next: Record<string, number> = {};
  for (const q of queues) {
    const cur = current[q] ?? min;
    const t = target[q]!;
    next[q] = t > cur ? Math.min(t, cur + shift) : Math.max(t, cur - shift);
  }
  // Growth is capped by what is free, so the total never exceeds maxProcesses mid-transition.
  let total = Object.values(next).reduce((a, b) => a + b, 0);
  for (const q of [...queues].sort((a, b) => weight(a) - weight(b))) {
    if (total <= max) break;
    const cut = Math.min(total - max, next[q]! - min);
    next[q]! -= cut;
    total -= cut;
  }
  return next;
}
