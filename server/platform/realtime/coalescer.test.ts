import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Coalescer } from './coalescer.ts';

describe('Coalescer', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends the first value at once, then only the newest per interval', async () => {
    const sent: [string, number][] = [];
    const c = new Coalescer<number>(100, async (k, v) => void sent.push([k, v]));
    for (let i = 1; i <= 50; i++) c.push('job', i);
    expect(sent).toEqual([['job', 1]]);
    await vi.advanceTimersByTimeAsync(100);
    expect(sent).toEqual([
      ['job', 1],
      ['job', 50],
    ]);
    await vi.advanceTimersByTimeAsync(500);
    expect(sent).toHaveLength(2);
    expect(c.open).toBe(0);
  });

  it('keeps keys apart', async () => {
    const sent: string[] = [];
    const c = new Coalescer<number>(100, async (k, v) => void sent.push(`${k}=${v}`));
    c.push('a', 1);
    c.push('b', 1);
    c.push('a', 2);
    await vi.advanceTimersByTimeAsync(100);
    expect(sent).toEqual(['a=1', 'b=1', 'a=2']);
  });

  it('flush sends at once and drops what was waiting, so a terminal state is never followed by a stale one', async () => {
    const sent: number[] = [];
    const c = new Coalescer<number>(100, async (_k, v) => void sent.push(v));
    c.push('job', 1);
    c.push('job', 2);
    await c.flush('job', 100);
    await vi.advanceTimersByTimeAsync(300);
    expect(sent).toEqual([1, 100]);
  });

  it('reports send failures without throwing into the caller', async () => {
    const errors: unknown[] = [];
    const c = new Coalescer<number>(
      100,
      async () => {
        throw new Error('redis down');
      },
      (e) => errors.push(e),
    );
    c.push('job', 1);
    await vi.advanceTimersByTimeAsync(0);
    expect(errors).toHaveLength(1);
  });
});
