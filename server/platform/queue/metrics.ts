import type { Redis } from 'ioredis';
import type { Logger } from '../logger/logger.ts';
import type { QueueKeys } from './keys.ts';
import { scripts } from './scripts.ts';

/** Histogram bucket upper bounds (ms) for wait and runtime; percentiles are read as a bucket's upper bound. */
export const BUCKETS_MS = [
  1,
  2,
  5,
  10,
  20,
  50,
  100,
  200,
  500,
  1_000,
  2_000,
  5_000,
  10_000,
  30_000,
  60_000,
  300_000,
  Infinity,
];

const bucketOf = (ms: number) => BUCKETS_MS.findIndex((b) => ms <= b);

interface Agg {
  minute: number;
  queue: string;
  name: string;
  processed: number;
  failed: number;
  waitSum: number;
  runSum: number;
  waitMax: number;
  runMax: number;
  waitHist: number[];
  runHist: number[];
}

export interface MinuteStats {
  minute: number;
  processed: number;
  failed: number;
  wait: { avg: number; p50: number; p95: number; max: number };
  runtime: { avg: number; p50: number; p95: number; max: number };
}

export interface TypeSeries {
  queue: string;
  name: string;
  minutes: MinuteStats[];
}

const minuteOf = (t: number) => Math.floor(t / 60_000) * 60_000;

/**
 * Per queue and job type, per minute: counts, sums, maxima and a small histogram. The worker aggregates in memory
 * and flushes every second or so (pub/sub events are at-most-once, so metrics cannot be derived from them), and
 * readers merge every worker's contribution, so no cron job is needed to produce them.
 */
export class QueueMetrics {
  private pending = new Map<string, Agg>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: QueueKeys,
    private readonly retentionMs: number,
    private readonly logger?: Logger,
  ) {}

  record(queue: string, name: string, ok: boolean, waitMs: number, runMs: number, at = Date.now()): void {
    const minute = minuteOf(at);
    const k = `${minute}|${queue}|${name}`;
    let a = this.pending.get(k);
    if (!a) {
      a = {
        minute,
        queue,
        name,
        processed: 0,
        failed: 0,
        waitSum: 0,
        runSum: 0,
        waitMax: 0,
        runMax: 0,
        waitHist: new Array<number>(BUCKETS_MS.length).fill(0),
        runHist: new Array<number>(BUCKETS_MS.length).fill(0),
      };
      this.pending.set(k, a);
    }
    const wait = Math.max(0, Math.round(waitMs));
    const run = Math.max(0, Math.round(runMs));
    if (ok) a.processed += 1;
    else a.failed += 1;
    a.waitSum += wait;
    a.runSum += run;
    a.waitMax = Math.max(a.waitMax, wait);
    a.runMax = Math.max(a.runMax, run);
    a.waitHist[bucketOf(wait)]! += 1;
    a.runHist[bucketOf(run)]! += 1;
  }

  async flush(): Promise<void> {
    if (!this.pending.size) return;
    const batch = this.pending;
    this.pending = new Map();
    const p = this.redis.pipeline();
    const types = new Set<string>();
    for (const a of batch.values()) {
      const incr: (string | number)[] = [
        'processed',
        a.processed,
        'failed',
        a.failed,
        'waitSum',
        a.waitSum,
        'runSum',
        a.runSum,
      ];
      a.waitHist.forEach((n, i) => n && incr.push(`w${i}`, n));
      a.runHist.forEach((n, i) => n && incr.push(`r${i}`, n));
      void scripts.metricFlush(
        p,
        [this.keys.metric(a.minute, a.queue, a.name)],
        [this.retentionMs, incr.length / 2, ...incr, 'waitMax', a.waitMax, 'runMax', a.runMax],
      );
      types.add(`${a.queue}|${a.name}`);
    }
    p.sadd(this.keys.metricTypes(), ...types);
    const res = await p.exec().catch((err: unknown) => {
      this.logger?.warn({ err }, 'queue metrics flush failed');
      return null;
    });
    if (res?.some(([err]) => err))
      this.logger?.warn({ err: res.find(([e]) => e)?.[0] }, 'queue metrics flush failed');
  }

  async types(): Promise<{ queue: string; name: string }[]> {
    const all = await this.redis.smembers(this.keys.metricTypes());
    return all.map((t) => {
      const [queue = '', name = ''] = t.split('|');
      return { queue, name };
    });
  }

  /** The last `minutes` minutes (oldest first) for each job type, optionally of one queue or one type. */
  async series(opts: {
    minutes: number;
    queue?: string;
    name?: string;
    now?: number;
  }): Promise<TypeSeries[]> {
    const now = minuteOf(opts.now ?? Date.now());
    const types = (await this.types()).filter(
      (t) => (!opts.queue || t.queue === opts.queue) && (!opts.name || t.name === opts.name),
    );
    const minutes = Array.from({ length: opts.minutes }, (_, i) => now - (opts.minutes - 1 - i) * 60_000);
    const p = this.redis.pipeline();
    for (const t of types) for (const m of minutes) p.hgetall(this.keys.metric(m, t.queue, t.name));
    const res = (await p.exec()) ?? [];
    let i = 0;
    return types.map((t) => ({
      ...t,
      minutes: minutes.map((m) => toStats(m, (res[i++]?.[1] ?? {}) as Record<string, string>)),
    }));
  }
}

function percentileFrom(hist: number[], total: number, p: number, max: number): number {
  if (!total) return 0;
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i]!;
    if (seen >= (p / 100) * total) return Math.min(BUCKETS_MS[i]!, max);
  }
  return max;
}

export function toStats(minute: number, h: Record<string, string>): MinuteStats {
  const processed = Number(h.processed ?? 0);
  const failed = Number(h.failed ?? 0);
  const total = processed + failed;
  const wHist = BUCKETS_MS.map((_, i) => Number(h[`w${i}`] ?? 0));
  const rHist = BUCKETS_MS.map((_, i) => Number(h[`r${i}`] ?? 0));
  const waitMax = Math.max(0, Number(h.waitMax ?? 0));
  const runMax = Math.max(0, Number(h.runMax ?? 0));
  return {
    minute,
    processed,
    failed,
    wait: {
      avg: total ? Number(h.waitSum ?? 0) / total : 0,
      p50: percentileFrom(wHist, total, 50, waitMax),
      p95: percentileFrom(wHist, total, 95, waitMax),
      max: waitMax,
    },
    runtime: {
      avg: total ? Number(h.runSum ?? 0) / total : 0,
      p50: percentileFrom(rHist, total, 50, runMax),
      p95: percentileFrom(rHist, total, 95, runMax),
      max: runMax,
    },
  };
}
