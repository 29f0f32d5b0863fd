import type { Redis } from 'ioredis';
import type { Em } from '../../platform/db/context.ts';
import type { KeelProcess } from './keel-process.ts';

// What the soak samples while it runs: each process's memory (after a full GC), Redis keys by family (count, and
// the summed size of the keys: a list or stream growing inside one key shows there), and every table's rows.

export interface Point {
  /** Minutes since the soak started. */
  m: number;
  v: number;
}

export type SeriesKind = 'memory' | 'redis-keys' | 'redis-size' | 'table';

export interface Series {
  name: string;
  kind: SeriesKind;
  unit: string;
  points: Point[];
}

const ID_PATTERNS: [RegExp, string][] = [
  [/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '{uuid}'],
  [/\b[0-9a-f]{16,}\b/gi, '{hex}'],
  [/[A-Za-z0-9_-]{32,}/g, '{token}'],
  [/\b\d+(-\d+)?\b/g, '{n}'],
];

/** The family of a Redis key: the key without the prefix, with ids, hashes and numbers replaced by placeholders. */
export function familyOf(key: string, prefix: string): string {
  let family = key.startsWith(prefix) ? key.slice(prefix.length) : key;
  for (const [pattern, placeholder] of ID_PATTERNS) family = family.replace(pattern, placeholder);
  return family;
}

const SIZE_COMMAND: Record<string, string> = {
  string: 'strlen',
  list: 'llen',
  set: 'scard',
  zset: 'zcard',
  hash: 'hlen',
  stream: 'xlen',
};

export interface RedisFamily {
  keys: number;
  /** Summed elements (list, set, zset, hash, stream entries) or bytes (strings). */
  size: number;
  /** Keys of the family without an expiry: a family whose keys all expire cannot grow without bound. */
  persistent: number;
}

/** Every key under the prefix, grouped by family. */
export async function redisFamilies(redis: Redis, prefix: string): Promise<Map<string, RedisFamily>> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  const families = new Map<string, RedisFamily>();
  for (let i = 0; i < keys.length; i += 500) {
    const chunk = keys.slice(i, i + 500);
    const types = ((await chunk.reduce((p, k) => p.type(k), redis.pipeline()).exec()) ?? []).map(
      ([, t]) => t as string,
    );
    const sizes = (
      (await chunk
        .reduce((p, k, j) => {
          const cmd = SIZE_COMMAND[types[j] ?? ''];
          return cmd ? p.call(cmd, k) : p.exists(k);
        }, redis.pipeline())
        .exec()) ?? []
    ).map(([, n]) => Number(n ?? 0));
    const ttls = ((await chunk.reduce((p, k) => p.pttl(k), redis.pipeline()).exec()) ?? []).map(([, n]) =>
      Number(n),
    );
    chunk.forEach((key, j) => {
      const family = `${familyOf(key, prefix)} (${types[j]})`;
      const f = families.get(family) ?? { keys: 0, size: 0, persistent: 0 };
      f.keys += 1;
      f.size += sizes[j] ?? 0;
      if (ttls[j] === -1) f.persistent += 1;
      families.set(family, f);
    });
  }
  return families;
}

/** Exact row counts of every table (as the database owner: no tenant scope, no row-level security). */
export async function tableRows(em: Em): Promise<Map<string, number>> {
  const conn = em.getConnection();
  const tables = (await conn.execute(
    `select tablename from pg_tables where schemaname = 'public' order by tablename`,
  )) as { tablename: string }[];
  const counts = new Map<string, number>();
  for (const { tablename } of tables) {
    const [row] = (await conn.execute(`select count(*)::int as n from "${tablename}"`)) as { n: number }[];
    counts.set(tablename, row?.n ?? 0);
  }
  return counts;
}

export class SoakRecorder {
  readonly series = new Map<string, Series>();
  /** The families of the last sample (for structural bounds and the expiry of growing families). */
  families = new Map<string, RedisFamily>();
  private readonly startedAt = Date.now();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly em: Em,
    private readonly processes: Record<string, KeelProcess>,
  ) {}

  private add(name: string, kind: SeriesKind, unit: string, m: number, v: number) {
    let s = this.series.get(name);
    if (!s) this.series.set(name, (s = { name, kind, unit, points: [] }));
    s.points.push({ m, v });
  }

  async sample(): Promise<void> {
    const m = (Date.now() - this.startedAt) / 60_000;
    for (const [name, proc] of Object.entries(this.processes)) {
      const mem = proc.memory();
      if (!mem) continue;
      this.add(`${name} rss`, 'memory', 'MB', m, mem.rss / 1048576);
      this.add(`${name} heapUsed`, 'memory', 'MB', m, mem.heapUsed / 1048576);
    }
    const families = await redisFamilies(this.redis, this.prefix);
    this.families = families;
    // A family seen for the first time now had none before: it starts at zero, not at its first count.
    for (const [family, f] of families) {
      this.add(`redis ${family} keys`, 'redis-keys', 'keys', m, f.keys);
      this.add(`redis ${family} size`, 'redis-size', 'elements', m, f.size);
    }
    for (const s of this.series.values()) {
      if ((s.kind === 'redis-keys' || s.kind === 'redis-size') && s.points.at(-1)?.m !== m)
        s.points.push({ m, v: 0 });
    }
    for (const [table, n] of await tableRows(this.em)) this.add(`table ${table}`, 'table', 'rows', m, n);
  }
}

/** Least-squares slope, per minute. */
export function slope(points: Point[]): number {
  if (points.length < 2) return 0;
  const n = points.length;
  const mx = points.reduce((a, p) => a + p.m, 0) / n;
  const my = points.reduce((a, p) => a + p.v, 0) / n;
  const sxx = points.reduce((a, p) => a + (p.m - mx) ** 2, 0);
  const sxy = points.reduce((a, p) => a + (p.m - mx) * (p.v - my), 0);
  return sxx === 0 ? 0 : sxy / sxx;
}
