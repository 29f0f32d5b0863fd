import type { RedisFamily, Series } from './soak-measure.ts';
import { slope } from './soak-measure.ts';
import type { SoakResult } from './soak.ts';

// Judging the soak's series: each one's slope after the warm-up against what the traffic explains. A series that
// grows is fine when the traffic accounts for it (rows the clients wrote, job records kept for their retention
// window, replay streams filling up to their cap, per-minute metric buckets that expire); growth nothing explains
// is the finding. The verdicts are for people reading bench output; the integration test asserts structural
// bounds instead (see soak.int.test.ts).

export type VerdictKind = 'flat' | 'explained' | 'bounded' | 'UNEXPLAINED' | 'GROWING';

export interface Verdict {
  series: string;
  unit: string;
  first: number;
  last: number;
  perMinute: number;
  kind: VerdictKind;
  why: string;
}

interface Rule {
  match: RegExp;
  /** Growth the traffic explains, per minute; null when the rule bounds the series instead of predicting it. */
  expected: (r: SoakResult) => number | null;
  why: string;
}

const per = (n: number, r: SoakResult) => n / r.minutes;

const RULES: Rule[] = [
  { match: /^table records$/, expected: (r) => per(r.counters.importRows, r), why: 'rows imported' },
  { match: /^table imports$/, expected: (r) => per(r.counters.imports, r), why: 'imports started' },
  { match: /^table exports$/, expected: (r) => per(r.counters.exports, r), why: 'exports requested' },
  {
    match: /^table activity_log$/,
    expected: (r) => per(r.counters.saves, r),
    why: 'one row per document save',
  },
  {
    match: /^redis ps:log:.* size$/,
    expected: () => null,
    why: 'replay streams fill with the events published, up to their retention cap (500-1000 entries per stream)',
  },
  {
    // The channel is the stream key's hash tag (ADR 0014): `ps:log:{user:<id>:notifications}`.
    match: /^redis ps:log:\{user:\{uuid\}:notifications\} \(stream\) keys$/,
    expected: () => null,
    why: 'one notification stream per user notified (at most one per user)',
  },
  {
    match: /^redis q:(jobrec|recent|completed|tag)[:\s]/,
    expected: () => null,
    why: 'the job index keeps each job 60 minutes (queue retention), then the leader trims it',
  },
  {
    match: /^redis bq:low:(jobs|delayed) /,
    expected: (r) => per(r.counters.exports, r),
    why: 'one delayed purge job per export (runs when the file expires)',
  },
  {
    match: /^redis (metrics|q:m):/,
    expected: () => null,
    why: 'per-minute metric buckets and top lists, which expire (metrics retention)',
  },
  {
    match: /^redis cache:/,
    expected: () => null,
    why: 'cache entries: one per organization and read model, each of bounded size (recent activity: 20 items)',
  },
  {
    match: /^redis q:sched:/,
    expected: () => null,
    why: 'one guard key per scheduled tick, expiring',
  },
];

/** Growth within this much of the series' size (or 2 units) over the run is flat: sampling noise, not a trend. */
const flatTolerance = (points: Series['points']) =>
  Math.max(2, 0.05 * Math.max(...points.map((p) => Math.abs(p.v))));

export function judge(result: SoakResult, warmupMinutes: number): Verdict[] {
  const familyOfSeries = (name: string): RedisFamily | undefined =>
    result.families.get(name.replace(/^redis /, '').replace(/ (keys|size)$/, ''));
  return result.series.map((s) => {
    const points = s.points.filter((p) => p.m >= warmupMinutes);
    const used = points.length >= 2 ? points : s.points;
    const perMinute = slope(used);
    const first = used[0]?.v ?? 0;
    const last = used.at(-1)?.v ?? 0;
    const span = (used.at(-1)?.m ?? 0) - (used[0]?.m ?? 0);
    const base = { series: s.name, unit: s.unit, first, last, perMinute };
    if (Math.abs(perMinute * span) <= flatTolerance(used)) return { ...base, kind: 'flat', why: '' };
    if (perMinute < 0) return { ...base, kind: 'flat', why: 'shrinking' };
    if (s.kind === 'memory') return { ...base, kind: 'GROWING', why: 'after a full GC at each sample' };
    const rule = RULES.find((r) => r.match.test(s.name));
    if (rule) {
      const expected = rule.expected(result);
      if (expected === null) return { ...base, kind: 'bounded', why: rule.why };
      const ratio = expected === 0 ? Infinity : perMinute / expected;
      return {
        ...base,
        kind: ratio > 0.5 && ratio < 1.5 ? 'explained' : 'UNEXPLAINED',
        why: `${rule.why}: ${expected.toFixed(1)}/min expected`,
      };
    }
    // A growing key count whose keys all expire is bounded by their lifetime.
    const family = familyOfSeries(s.name);
    if (s.kind === 'redis-keys' && family && family.persistent === 0) {
      return { ...base, kind: 'bounded', why: 'every key of the family expires' };
    }
    return { ...base, kind: 'UNEXPLAINED', why: 'nothing in the traffic explains it' };
  });
}

export function formatVerdicts(verdicts: Verdict[]): string {
  const rows = verdicts
    .filter((v) => v.kind !== 'flat' || v.unit === 'MB')
    .sort((a, b) => a.kind.localeCompare(b.kind) || a.series.localeCompare(b.series));
  return rows
    .map(
      (v) =>
        `${v.kind.padEnd(11)} ${v.series.padEnd(66)} ${v.first.toFixed(1).padStart(9)} → ${v.last
          .toFixed(1)
          .padStart(
            9,
          )} ${v.unit.padEnd(8)} ${(v.perMinute >= 0 ? '+' : '') + v.perMinute.toFixed(2)}/min ${v.why}`,
    )
    .join('\n');
}
