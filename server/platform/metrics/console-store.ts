import os from 'node:os';
import type { RedisClient } from '../redis/redis.ts';
import { runDetached } from '../async/detached.ts';
import { bucketIndex, LATENCY_BUCKETS_MS, quantileFromBuckets } from './latency-buckets.ts';

// The operations console's metrics, kept in Redis so that every process contributes and the console sees the
// fleet. Each process aggregates in memory and flushes every few seconds (one pipeline), never per request.
//
// Keys (under the metrics key space):
//   m:<minute>   hash, 26 h   counters `c:<metric>`, histogram buckets `h:<metric>:<i>`, gauges `g:<metric>@<process>`
//   h:<hour>     hash, 8 d    the same counters and buckets rolled up per hour (gauges: last minute's value)
//   top:<kind>:<hour> zset    requests / slow requests by organization and by user, trimmed to the top 500
//   slow:req     list         the last 200 slow requests (> 1 s) with their details
//   group:<kind>:{count,max,last}  zsets, slow queries by normalized SQL and exceptions by class + location

const MINUTE_TTL_S = 26 * 3600;
const HOUR_TTL_S = 8 * 24 * 3600;
const TOP_KEEP = 500;
const GROUP_KEEP = 500;
const SLOW_KEEP = 200;

export type TopKind = 'org:req' | 'user:req' | 'org:slow' | 'user:slow';
export type GroupKind = 'slowq' | 'exc';

export interface SlowRequest {
  at: number;
  method: string;
  route: string;
  status: number;
  ms: number;
  queries: number;
  rssMb: number;
  requestId: string;
  organizationId?: string | undefined;
  userId?: string | undefined;
}

export interface SeriesPoint {
  t: number;
  counters: Record<string, number>;
  /** Percentiles (ms) of each histogram metric. */
  quantiles: Record<string, { p50: number | null; p95: number | null; p99: number | null; count: number }>;
  gauges: Record<string, number>;
}

const minuteOf = (ms: number) => Math.floor(ms / 60_000);
const hourOf = (ms: number) => Math.floor(ms / 3_600_000);

export class ConsoleMetricsStore {
  private counters = new Map<string, number>();
  private buckets = new Map<string, number[]>();
  private gauges = new Map<string, number>();
  private tops = new Map<string, number>();
  private groups: { kind: GroupKind; key: string; ms: number; at: number; sample?: string }[] = [];
  private slow: SlowRequest[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly processId = `${os.hostname()}:${process.pid}`;
  private readonly samplers: (() => void)[] = [];

  constructor(
    private readonly redis: RedisClient,
    private readonly keyspace: string,
    private readonly now: () => number = Date.now,
  ) {}

  start(intervalMs = 5000): void {
    this.timer ??= runDetached(() => setInterval(() => void this.flush().catch(() => undefined), intervalMs));
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush().catch(() => undefined);
  }

  count(metric: string, n = 1): void {
    if (!n) return;
    this.counters.set(metric, (this.counters.get(metric) ?? 0) + n);
  }

  observe(metric: string, ms: number): void {
    let b = this.buckets.get(metric);
    if (!b) this.buckets.set(metric, (b = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0)));
    b[bucketIndex(ms)]! += 1;
  }

  gauge(metric: string, value: number): void {
    this.gauges.set(metric, value);
  }

  top(kind: TopKind, member: string, n = 1): void {
    const key = `${kind}|${member}`;
    this.tops.set(key, (this.tops.get(key) ?? 0) + n);
  }

  group(kind: GroupKind, key: string, ms: number, sample?: string): void {
    if (this.groups.length < 10_000)
      this.groups.push({ kind, key, ms, at: this.now(), ...(sample ? { sample } : {}) });
  }

  slowRequest(entry: SlowRequest): void {
    if (this.slow.length < SLOW_KEEP) this.slow.push(entry);
  }

  /** Runs before each flush: lets components that keep their own counters report their deltas. */
  addSampler(sample: () => void): void {
    this.samplers.push(sample);
  }

  /** Writes everything aggregated since the last flush in one pipeline. */
  async flush(): Promise<void> {
    for (const sample of this.samplers) sample();
    const now = this.now();
    const minuteKey = `${this.keyspace}m:${minuteOf(now)}`;
    const hourKey = `${this.keyspace}h:${hourOf(now)}`;
    const [counters, buckets, gauges, tops, groups, slow] = [
      this.counters,
      this.buckets,
      this.gauges,
      this.tops,
      this.groups,
      this.slow,
    ];
    if (!counters.size && !buckets.size && !gauges.size && !tops.size && !groups.length && !slow.length)
      return;
    this.counters = new Map();
    this.buckets = new Map();
    this.gauges = new Map();
    this.tops = new Map();
    this.groups = [];
    this.slow = [];

    const p = this.redis.pipeline();
    for (const key of [minuteKey, hourKey]) {
      for (const [metric, n] of counters) p.hincrby(key, `c:${metric}`, n);
      for (const [metric, counts] of buckets) {
        counts.forEach((n, i) => {
          if (n) p.hincrby(key, `h:${metric}:${i}`, n);
        });
      }
    }
    for (const [metric, value] of gauges) {
      p.hset(minuteKey, `g:${metric}@${this.processId}`, value);
      p.hset(hourKey, `g:${metric}@${this.processId}`, value);
    }
    p.expire(minuteKey, MINUTE_TTL_S);
    p.expire(hourKey, HOUR_TTL_S);
    const hour = hourOf(now);
    const topKeys = new Set<string>();
    for (const [k, n] of tops) {
      const [kind, member] = k.split('|') as [TopKind, string];
      const key = `${this.keyspace}top:${kind}:${hour}`;
      topKeys.add(key);
      p.zincrby(key, n, member);
    }
    for (const key of topKeys) {
      p.zremrangebyrank(key, 0, -(TOP_KEEP + 1));
      p.expire(key, HOUR_TTL_S);
    }
    const groupKinds = new Set<GroupKind>();
    for (const g of groups) {
      const base = `${this.keyspace}group:${g.kind}:`;
      groupKinds.add(g.kind);
      p.zincrby(`${base}count`, 1, g.key);
      p.zadd(`${base}max`, 'GT', g.ms, g.key);
      p.zadd(`${base}last`, g.at, g.key);
      if (g.sample) p.hset(`${base}sample`, g.key, g.sample.slice(0, 500));
    }
    for (const kind of groupKinds) {
      // Bound the number of distinct groups: the least frequent fall off.
      p.zremrangebyrank(`${this.keyspace}group:${kind}:count`, 0, -(GROUP_KEEP + 1));
    }
    if (slow.length) {
      p.lpush(`${this.keyspace}slow:req`, ...slow.map((s) => JSON.stringify(s)));
      p.ltrim(`${this.keyspace}slow:req`, 0, SLOW_KEEP - 1);
    }
    await p.exec();
  }

  /** Per-minute points (ranges up to 6 h) or per-hour points (longer) between two times. */
  async series(fromMs: number, toMs: number): Promise<SeriesPoint[]> {
    const perMinute = toMs - fromMs <= 6 * 3_600_000;
    const step = perMinute ? 60_000 : 3_600_000;
    const first = Math.floor(fromMs / step);
    const last = Math.floor(toMs / step);
    const p = this.redis.pipeline();
    for (let i = first; i <= last; i++) p.hgetall(`${this.keyspace}${perMinute ? 'm' : 'h'}:${i}`);
    const results = (await p.exec()) ?? [];
    return results.map(([, raw], idx) =>
      toPoint((first + idx) * step, (raw ?? {}) as Record<string, string>),
    );
  }

  /** Counter totals and histogram buckets summed over a time range (per-minute data). */
  async window(
    fromMs: number,
    toMs: number,
  ): Promise<{ counters: Record<string, number>; buckets: Record<string, number[]> }> {
    const first = minuteOf(fromMs);
    const last = minuteOf(toMs);
    const p = this.redis.pipeline();
    for (let i = first; i <= last; i++) p.hgetall(`${this.keyspace}m:${i}`);
    const counters: Record<string, number> = {};
    const buckets: Record<string, number[]> = {};
    for (const [, raw] of (await p.exec()) ?? []) {
      for (const [field, value] of Object.entries((raw ?? {}) as Record<string, string>)) {
        if (field.startsWith('c:'))
          counters[field.slice(2)] = (counters[field.slice(2)] ?? 0) + Number(value);
        else if (field.startsWith('h:')) {
          const cut = field.lastIndexOf(':');
          const metric = field.slice(2, cut);
          const b = (buckets[metric] ??= new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0));
          b[Number(field.slice(cut + 1))]! += Number(value);
        }
      }
    }
    return { counters, buckets };
  }

  /** The latest value of each gauge, summed over processes, from the most recent minute that has it. */
  async latestGauges(lookbackMinutes = 2): Promise<Record<string, number>> {
    const now = minuteOf(this.now());
    for (let m = now; m > now - lookbackMinutes; m--) {
      const point = toPoint(m * 60_000, await this.redis.hgetall(`${this.keyspace}m:${m}`));
      if (Object.keys(point.gauges).length) return point.gauges;
    }
    return {};
  }

  async topList(kind: TopKind, hours: number, limit = 10): Promise<{ member: string; score: number }[]> {
    const nowHour = hourOf(this.now());
    const p = this.redis.pipeline();
    for (let h = nowHour - hours + 1; h <= nowHour; h++) {
      p.zrevrange(`${this.keyspace}top:${kind}:${h}`, 0, 99, 'WITHSCORES');
    }
    const sums = new Map<string, number>();
    for (const [, rows] of (await p.exec()) ?? []) {
      const list = (rows ?? []) as string[];
      for (let i = 0; i + 1 < list.length; i += 2) {
        sums.set(list[i]!, (sums.get(list[i]!) ?? 0) + Number(list[i + 1]));
      }
    }
    return [...sums.entries()]
      .map(([member, score]) => ({ member, score }))
      .sort((a, b) => b.score - a.score)
      .slice(0, limit);
  }

  async listGroups(kind: GroupKind, limit = 20) {
    const base = `${this.keyspace}group:${kind}:`;
    const rows = await this.redis.zrevrange(`${base}count`, 0, limit - 1, 'WITHSCORES');
    const keys: string[] = [];
    const counts: number[] = [];
    for (let i = 0; i + 1 < rows.length; i += 2) {
      keys.push(rows[i]!);
      counts.push(Number(rows[i + 1]));
    }
    if (!keys.length) return [];
    const [maxes, lasts, samples] = await Promise.all([
      this.redis.zmscore(`${base}max`, ...keys),
      this.redis.zmscore(`${base}last`, ...keys),
      this.redis.hmget(`${base}sample`, ...keys),
    ]);
    return keys.map((key, i) => ({
      key,
      count: counts[i]!,
      maxMs: Number(maxes[i] ?? 0),
      lastSeen: new Date(Number(lasts[i] ?? 0)),
      sample: samples[i] ?? null,
    }));
  }

  async slowRequests(limit = 50): Promise<SlowRequest[]> {
    const rows = await this.redis.lrange(`${this.keyspace}slow:req`, 0, limit - 1);
    return rows.map((r) => JSON.parse(r) as SlowRequest);
  }
}

function toPoint(t: number, raw: Record<string, string>): SeriesPoint {
  const counters: Record<string, number> = {};
  const hist = new Map<string, number[]>();
  const gauges: Record<string, number> = {};
  for (const [field, value] of Object.entries(raw)) {
    const n = Number(value);
    if (field.startsWith('c:')) counters[field.slice(2)] = n;
    else if (field.startsWith('h:')) {
      const cut = field.lastIndexOf(':');
      const metric = field.slice(2, cut);
      const i = Number(field.slice(cut + 1));
      let b = hist.get(metric);
      if (!b) hist.set(metric, (b = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0)));
      b[i] = n;
    } else if (field.startsWith('g:')) {
      const metric = field.slice(2, field.indexOf('@'));
      gauges[metric] = (gauges[metric] ?? 0) + n;
    }
  }
  const quantiles: SeriesPoint['quantiles'] = {};
  for (const [metric, counts] of hist) {
    quantiles[metric] = {
      p50: quantileFromBuckets(counts, 0.5),
      p95: quantileFromBuckets(counts, 0.95),
      p99: quantileFromBuckets(counts, 0.99),
      count: counts.reduce((a, b) => a + b, 0),
    };
  }
  return { t, counters, quantiles, gauges };
}
