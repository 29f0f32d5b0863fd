import { describe, expect, it } from 'vitest';
import { bucketIndex, LATENCY_BUCKETS_MS, quantileFromBuckets } from './latency-buckets.ts';

describe('bucketed latency histograms', () => {
  it('put a duration in the first bucket whose bound holds it', () => {
    expect(bucketIndex(0.3)).toBe(0);
    expect(bucketIndex(1)).toBe(0);
    expect(bucketIndex(1.01)).toBe(1);
    expect(bucketIndex(99_999)).toBe(LATENCY_BUCKETS_MS.length);
  });

  it('merge across processes by adding counts, giving the percentile of the union', () => {
    const a = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
    const b = [...a];
    for (let i = 0; i < 90; i++) a[bucketIndex(3)]! += 1; // process A: fast
    for (let i = 0; i < 10; i++) b[bucketIndex(700)]! += 1; // process B: slow
    const merged = a.map((n, i) => n + b[i]!);
    expect(quantileFromBuckets(merged, 0.5)).toBe(5);
    expect(quantileFromBuckets(merged, 0.95)).toBe(1000);
    expect(quantileFromBuckets([], 0.5)).toBeNull();
  });
});
