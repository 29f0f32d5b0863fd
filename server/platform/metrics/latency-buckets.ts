// Fixed latency buckets (milliseconds) shared by every process, so per-minute histograms from many processes can be
// added bucket by bucket and fleet-wide percentiles come out right (averaging per-process percentiles would not).
export const LATENCY_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;

/** Index of the bucket a duration falls in; the last index (one past the bounds) is the overflow bucket. */
export function bucketIndex(ms: number): number {
  for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) if (ms <= LATENCY_BUCKETS_MS[i]!) return i;
  return LATENCY_BUCKETS_MS.length;
}

/** Upper bound of a bucket (the overflow bucket reports twice the last bound). */
export function bucketUpperBound(index: number): number {
  return LATENCY_BUCKETS_MS[index] ?? LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.length - 1]! * 2;
}

/** The q-quantile (0..1) of a bucketed histogram, as the upper bound of the bucket that holds it. */
export function quantileFromBuckets(counts: readonly number[], q: number): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (!total) return null;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i] ?? 0;
    if (seen >= rank) return bucketUpperBound(i);
  }
  return bucketUpperBound(counts.length - 1);
}
