import { describe, expect, it } from 'vitest';
import { benchLine, callgrindInstructions, percentile } from './lib.ts';

describe('benchLine', () => {
  it('prints the ratio of value to baseline, and a paired ratio when the benchmark gives one', () => {
    expect(
      benchLine('obs', { name: 'rps', value: 450, unit: 'req/s', baseline: 500, goal: 'ratio >= 0.90' }),
    ).toBe('BENCH obs.rps value=450 unit=req/s baseline=500 ratio=0.900 goal=ratio_>=_0.90');
    // A median of per-cycle ratios need not equal the ratio of the medians: the paired one is printed.
    expect(
      benchLine('obs', {
        name: 'rps',
        value: 450,
        unit: 'req/s',
        baseline: 500,
        ratio: 0.95,
        goal: 'higher',
      }),
    ).toBe('BENCH obs.rps value=450 unit=req/s baseline=500 ratio=0.950 goal=higher');
    expect(benchLine('obs', { name: 'heap', value: 12.25, unit: 'MB', goal: 'lower' })).toBe(
      'BENCH obs.heap value=12.25 unit=MB baseline=- ratio=- goal=lower',
    );
  });
});

describe('percentile', () => {
  it('is the nearest-rank percentile of a sorted list', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(xs, 50), percentile(xs, 99), percentile(xs, 100), percentile(xs, 0)]).toEqual([
      50, 99, 100, 1,
    ]);
    expect(percentile([], 50)).toBeNaN();
  });
});

describe('callgrindInstructions', () => {
  it("sums every thread's count", () => {
    const out = [
      'PID 11907: /usr/bin/node --import tsx bench/api-server.ts keel {}',
      '',
      '  Totals:         Ir ',
      '   Th 1  150,021,174 ',
      '   Th 2          199 ',
      '   Th 3    6,401,965 ',
      '',
    ].join('\n');
    expect(callgrindInstructions(out)).toBe(150_021_174 + 199 + 6_401_965);
  });

  it('refuses an answer without counts (a process that is not under callgrind)', () => {
    expect(() => callgrindInstructions('Error: Callgrind task with PID 1 not detected')).toThrow(
      /no instruction count/,
    );
  });
});
