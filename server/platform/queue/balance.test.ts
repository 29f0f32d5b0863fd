import { describe, expect, it } from 'vitest';
import { balance } from './balance.ts';
import { backoffDelay, defineJob } from './definition.ts';
import { z } from 'zod';

const auto = {
  balance: 'auto' as const,
  autoScalingStrategy: 'size' as const,
  minProcesses: 1,
  maxProcesses: 10,
  balanceMaxShift: 3,
};
const queues = ['high', 'default', 'low'];

describe('balance', () => {
  it('simple splits maxProcesses evenly, leftovers to the first queues', () => {
    expect(balance({ ...auto, balance: 'simple' }, queues, {}, {})).toEqual({ high: 4, default: 3, low: 3 });
  });

  it('auto gives idle queues their minimum and shares the rest by waiting jobs, within the shift limit', () => {
    const load = {
      high: { waiting: 0, avgRuntimeMs: 5 },
      default: { waiting: 900, avgRuntimeMs: 5 },
      low: { waiting: 100, avgRuntimeMs: 5 },
    };
    const first = balance(auto, queues, { high: 3, default: 3, low: 3 }, load);
    expect(first).toEqual({ high: 1, default: 6, low: 2 });
    const second = balance(auto, queues, first, load);
    expect(second).toEqual({ high: 1, default: 7, low: 2 });
    expect(Object.values(second).reduce((a, b) => a + b)).toBeLessThanOrEqual(10);
  });

  it('the time strategy weighs waiting jobs by their runtime', () => {
    const load = {
      high: { waiting: 10, avgRuntimeMs: 1_000 },
      default: { waiting: 1_000, avgRuntimeMs: 1 },
      low: { waiting: 0, avgRuntimeMs: 1 },
    };
    const next = balance({ ...auto, autoScalingStrategy: 'time', balanceMaxShift: 10 }, queues, {}, load);
    expect(next.high).toBeGreaterThan(next.default!);
    expect(next.low).toBe(1);
  });

  it('never goes below minProcesses, even when the minimums exceed maxProcesses', () => {
    const next = balance({ ...auto, minProcesses: 4, maxProcesses: 6 }, queues, {}, {});
    expect(next).toEqual({ high: 4, default: 4, low: 4 });
  });
});

describe('job definitions', () => {
  it('backoff arrays give one delay per retry and repeat the last', () => {
    expect([1, 2, 3, 4].map((a) => backoffDelay([100, 500, 2_000], a))).toEqual([100, 500, 2_000, 2_000]);
    expect(backoffDelay(250, 7)).toBe(250);
    expect(backoffDelay(undefined, 1)).toBe(0);
  });

  it('refuse bad names, negative backoffs and unbounded retries', () => {
    const base = { payload: z.object({}), handle: () => {} };
    expect(() => defineJob({ ...base, name: 'has space' })).toThrow(/Invalid job name/);
    expect(() => defineJob({ ...base, name: 'x', backoff: [-1] })).toThrow(/backoff/);
    expect(() => defineJob({ ...base, name: 'x', backoff: [] })).toThrow(/backoff/);
    expect(() => defineJob({ ...base, name: 'x', tries: 0 })).toThrow(/unlimited tries/);
    expect(defineJob({ ...base, name: 'x' })).toMatchObject({
      queue: 'default',
      tries: 3,
      timeoutMs: 60_000,
    });
  });
});
