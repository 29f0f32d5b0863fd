import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisClient } from '../redis/redis.ts';
import { deleteKeys, hashTag, scanKeys } from '../redis/slots.ts';
import superjson from 'superjson';
import type { Logger } from '../logger/logger.ts';
import type { CacheBus, Invalidation } from './bus.ts';
import { LruStore, type L1Entry } from './lru.ts';

export interface RememberOptions {
  /** Seconds the value is fresh. */
  ttl: number;
  /** Flushing any of these drops the entry from both layers in every process. Scoped like keys. */
  tags?: readonly string[];
  /** Seconds a stale copy is kept as a fallback for when the factory fails (default: the cache's). */
  grace?: number;
}

export interface CacheOptions {
  /** The `cache` role connection: its own connection, so cache traffic never delays sessions or limits. */
  redis: RedisClient;
  /** The `cache` key space (`<KEY_PREFIX>cache:`); every key this cache writes starts with it. */
  keyspace: string;
  /** Keeps environments that share a Redis (staging next to preview, say) from reading each other's values. */
  environment: string;
  /** Cross-process invalidation of the in-memory layer; without it the cache assumes a single process. */
  bus?: CacheBus;
  logger?: Logger;
  maxEntries?: number;
  maxBytes?: number;
  graceSeconds?: number;
  /** Longest any single Redis call may take before the cache answers without Redis. */
  redisTimeoutMs?: number;
  /** After a Redis failure, how long to skip Redis entirely (answers stay fast while it is down). */
  redisRetryMs?: number;
  /** How long a process may hold the regeneration lock of a key (longer than any sane factory). */
  lockTtlMs?: number;
  /** How long a process waits for another one's regeneration before running the factory itself. */
  lockWaitMs?: number;
  /** XFetch's β: above 1 refreshes earlier, below 1 later. */
  xfetchBeta?: number;
  /** Injectable for tests of the early-refresh decision. */
  random?: () => number;
}

export interface CacheStats {
  l1: { hits: number; misses: number; entries: number; bytes: number; evictions: number };
  l2: { hits: number; misses: number };
  factory: { runs: number; errors: number };
  redisErrors: number;
  lockWaits: number;
  /** Waits that ran out (or lost Redis) and ran the factory without the lock. */
  lockFallbacks: number;
  earlyRefreshes: number;
  staleServed: number;
  invalidations: { sent: number; received: number; unacknowledged: number };
}

interface Envelope {
  v: unknown;
  /** expiresAt, staleUntil, delta, tags: see L1Entry. */
  e: number;
  s: number;
  d: number;
  t: string[];
}

type Factory<T> = () => Promise<T> | T;

const FAILED: unique symbol = Symbol('redis failed');
type Maybe<T> = T | typeof FAILED;

// Writes the value and indexes it under its tags, unless a tag was flushed since the caller read the versions
// (then the value may have been computed from data the flush was about, and must not be cached).
const SET_SCRIPT = `
local n = tonumber(ARGV[3])
if ARGV[4] == '1' then
  for i = 1, n do
    local cur = redis.call('get', KEYS[1 + n + i]) or '0'
    if cur ~= ARGV[4 + i] then return 0 end
  end
end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
local px = tonumber(ARGV[2])
for i = 1, n do
  redis.call('sadd', KEYS[1 + i], KEYS[1])
  if redis.call('pttl', KEYS[1 + i]) < px then redis.call('pexpire', KEYS[1 + i], px) end
end
return 1`;

// Deletes every entry of the tags and bumps their versions, atomically, so a regeneration that started before
// the flush cannot write its value back afterwards.
const FLUSH_SCRIPT = `
local n = #KEYS / 2
local deleted = 0
for i = 1, n do
  local members = redis.call('smembers', KEYS[i])
  for j = 1, #members, 500 do
    deleted = deleted + redis.call('del', unpack(members, j, math.min(j + 499, #members)))
  end
  redis.call('del', KEYS[i])
  redis.call('incr', KEYS[n + i])
  redis.call('pexpire', KEYS[n + i], ARGV[1])
end
return deleted`;

const RELEASE_SCRIPT = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`;

interface ScriptedRedis {
  keelCacheSet(...args: (string | number)[]): Promise<number>;
  keelCacheFlush(...args: (string | number)[]): Promise<number>;
  keelCacheRelease(key: string, token: string): Promise<number>;
}

const TAG_VERSION_TTL_MS = 7 * 24 * 3600_000;
const ORG_ID = /^[A-Za-z0-9-]{1,64}$/;

/**
 * Two-layer cache: a bounded in-process LRU (L1) in front of Redis (L2), then the factory. Misses of one key run
 * the factory once per process (a shared promise) and once across processes (a Redis lock with a bounded wait,
 * after which the waiter runs the factory itself rather than fail). Hot values are refreshed early in the
 * background (XFetch), tags flush both layers everywhere, and every Redis failure degrades to L1 + factory within
 * `redisTimeoutMs` instead of reaching the caller. Values are shared between callers: treat them as read-only.
 */
export class Cache {
  readonly global: CacheScope;
  private readonly l1: LruStore;
  private readonly redis: RedisClient & ScriptedRedis;
  private readonly base: string;
  private readonly inflight = new Map<string, Promise<unknown>>();
  private readonly refreshing = new Set<string>();
  private readonly counters = {
    l1Hits: 0,
    l1Misses: 0,
    l2Hits: 0,
    l2Misses: 0,
    factoryRuns: 0,
    factoryErrors: 0,
    redisErrors: 0,
    lockWaits: 0,
    lockFallbacks: 0,
    earlyRefreshes: 0,
    staleServed: 0,
    sent: 0,
    received: 0,
    unacknowledged: 0,
  };
  /** Bumped by every invalidation applied here: a fill that saw it change must not populate L1. */
  private epoch = 0;
  private redisDownUntil = 0;
  private lastErrorLog = 0;
  private readonly opts: Required<
    Pick<
      CacheOptions,
      | 'graceSeconds'
      | 'redisTimeoutMs'
      | 'redisRetryMs'
      | 'lockTtlMs'
      | 'lockWaitMs'
      | 'xfetchBeta'
      | 'random'
    >
  >;

  constructor(private readonly options: CacheOptions) {
    this.l1 = new LruStore(options.maxEntries ?? 10_000, options.maxBytes ?? 64 * 1024 * 1024);
    this.base = `${options.keyspace}${options.environment}:`;
    this.opts = {
      graceSeconds: options.graceSeconds ?? 300,
      redisTimeoutMs: options.redisTimeoutMs ?? 250,
      redisRetryMs: options.redisRetryMs ?? 1000,
      lockTtlMs: options.lockTtlMs ?? 15_000,
      lockWaitMs: options.lockWaitMs ?? 5_000,
      xfetchBeta: options.xfetchBeta ?? 1,
      random: options.random ?? Math.random,
    };
    const redis = options.redis as RedisClient & Partial<ScriptedRedis>;
    if (!redis.keelCacheSet) {
      redis.defineCommand('keelCacheSet', { lua: SET_SCRIPT });
      redis.defineCommand('keelCacheFlush', { lua: FLUSH_SCRIPT });
      redis.defineCommand('keelCacheRelease', { lua: RELEASE_SCRIPT, numberOfKeys: 1 });
    }
    this.redis = redis as RedisClient & ScriptedRedis;
    this.global = new CacheScope(this, 'g:');
  }

  /** Starts listening for other processes' invalidations. */
  async start(): Promise<void> {
    await this.options.bus?.start(
      (inv) => {
        this.counters.received++;
        this.applyLocal(inv);
      },
      // The subscriber reconnected: invalidations sent meanwhile are lost, so nothing in L1 can be trusted.
      () => this.applyLocal({ kind: 'clear' }),
    );
  }

  close(): void {
    this.options.bus?.close();
  }

  /** The organization's namespace: its keys and tags can never meet another organization's. */
  tenant(organizationId: string): CacheScope {
    if (!ORG_ID.test(organizationId)) throw new Error(`Invalid organization id for a cache scope`);
    return new CacheScope(this, `t:${organizationId}:`);
  }

  stats(): CacheStats {
    const c = this.counters;
    return {
      l1: {
        hits: c.l1Hits,
        misses: c.l1Misses,
        entries: this.l1.size,
        bytes: this.l1.byteSize,
        evictions: this.l1.evictions,
      },
      l2: { hits: c.l2Hits, misses: c.l2Misses },
      factory: { runs: c.factoryRuns, errors: c.factoryErrors },
      redisErrors: c.redisErrors,
      lockWaits: c.lockWaits,
      lockFallbacks: c.lockFallbacks,
      earlyRefreshes: c.earlyRefreshes,
      staleServed: c.staleServed,
      invalidations: { sent: c.sent, received: c.received, unacknowledged: c.unacknowledged },
    };
  }

  /** Deletes every entry of this cache (both layers, every process); limits and sessions live elsewhere. */
  async clear(): Promise<void> {
    await this.redisOp('clear', (r) => scanKeys(r, `${this.base}*`, (keys) => deleteKeys(r, keys)));
    this.applyLocal({ kind: 'clear' });
    await this.broadcast({ kind: 'clear' });
  }

  // ---- scoped operations (CacheScope delegates here) ----

  async remember<T>(ns: string, key: string, factory: Factory<T>, opts: RememberOptions): Promise<T> {
    const id = ns + key;
    const now = Date.now();
    const entry = this.l1.get(id, now);
    if (entry && now < entry.expiresAt) {
      this.counters.l1Hits++;
      if (this.shouldRefreshEarly(entry, now)) this.refreshEarly(ns, key, factory, opts);
      return entry.value as T;
    }
    this.counters.l1Misses++;
    const running = this.inflight.get(id);
    if (running) return running as Promise<T>;
    const load = this.load(ns, key, factory, opts, entry).finally(() => this.inflight.delete(id));
    this.inflight.set(id, load);
    return load;
  }

  async get<T>(ns: string, key: string): Promise<T | undefined> {
    const id = ns + key;
    const now = Date.now();
    const entry = this.l1.get(id, now);
    if (entry && now < entry.expiresAt) {
      this.counters.l1Hits++;
      return entry.value as T;
    }
    this.counters.l1Misses++;
    const epoch = this.epoch;
    const raw = await this.redisOp('get', (r) => r.get(this.valueKey(ns, key)));
    const env = raw === FAILED ? null : this.decode(raw);
    if (env && now < env.e) {
      this.counters.l2Hits++;
      this.putL1(id, env, raw as string, epoch);
      return env.v as T;
    }
    if (raw !== FAILED) this.counters.l2Misses++;
    return undefined;
  }

  async set(ns: string, key: string, value: unknown, opts: RememberOptions): Promise<void> {
    const { env, json } = this.envelope(ns, value, opts, 0);
    await this.writeL2(ns, key, json, env, opts, null);
    // Other processes drop their copies and re-read this one from Redis.
    this.applyLocal({ kind: 'keys', keys: [ns + key] });
    this.putL1(ns + key, env, json, this.epoch);
    await this.broadcast({ kind: 'keys', keys: [ns + key] });
  }

  async delete(ns: string, keys: readonly string[]): Promise<void> {
    if (!keys.length) return;
    await this.redisOp('del', (r) => r.del(...keys.map((k) => this.valueKey(ns, k))));
    const ids = keys.map((k) => ns + k);
    this.applyLocal({ kind: 'keys', keys: ids });
    await this.broadcast({ kind: 'keys', keys: ids });
  }

  async flushTags(ns: string, tags: readonly string[]): Promise<void> {
    if (!tags.length) return;
    const scoped = tags.map((t) => ns + t);
    await this.redisOp('flush', (r) =>
      r.keelCacheFlush(
        scoped.length * 2,
        ...scoped.map((t) => this.tagKey(ns, t)),
        ...scoped.map((t) => this.tagVersionKey(ns, t)),
        TAG_VERSION_TTL_MS,
      ),
    );
    // After Redis: a local fill that read the old value before the delete finds the epoch moved and keeps it out.
    this.applyLocal({ kind: 'tags', tags: scoped });
    await this.broadcast({ kind: 'tags', tags: scoped });
  }

  // ---- internals ----

  private async load<T>(
    ns: string,
    key: string,
    factory: Factory<T>,
    opts: RememberOptions,
    staleL1: L1Entry | undefined,
  ): Promise<T> {
    const id = ns + key;
    const epoch = this.epoch;
    const valueKey = this.valueKey(ns, key);
    const tags = (opts.tags ?? []).map((t) => ns + t);
    let stale: { v: unknown } | undefined = staleL1 ? { v: staleL1.value } : undefined;

    const read = await this.readL2(ns, valueKey, tags);
    if (read !== FAILED) {
      const now = Date.now();
      if (read.env && now < read.env.e) {
        this.counters.l2Hits++;
        this.putL1(id, read.env, read.raw!, epoch);
        if (this.shouldRefreshEarly({ expiresAt: read.env.e, delta: read.env.d }, now)) {
          this.refreshEarly(ns, key, factory, opts);
        }
        return read.env.v as T;
      }
      this.counters.l2Misses++;
      if (read.env) stale ??= { v: read.env.v };
      const shared = await this.fillUnderLock(ns, key, factory, opts, epoch, stale);
      if (shared.done) return shared.value as T;
    }

    // Redis is unavailable, or the other process's regeneration did not finish in time: answer anyway.
    const value = await this.runFactory(factory, stale);
    if (value.fresh) {
      const { env, json } = this.envelope(ns, value.value, opts, value.delta);
      this.putL1(id, env, json, epoch);
    }
    return value.value as T;
  }

  /**
   * Regenerates under the cross-process lock, or waits for whoever holds it. Returns `done: false` when the caller
   * must run the factory without the lock (Redis failed, or the wait ran out).
   */
  private async fillUnderLock(
    ns: string,
    key: string,
    factory: Factory<unknown>,
    opts: RememberOptions,
    epoch: number,
    stale: { v: unknown } | undefined,
  ): Promise<{ done: true; value: unknown } | { done: false }> {
    const id = ns + key;
    const valueKey = this.valueKey(ns, key);
    const lockKey = this.lockKey(ns, key);
    const tags = (opts.tags ?? []).map((t) => ns + t);
    const deadline = Date.now() + this.opts.lockWaitMs;
    const token = randomBytes(12).toString('base64url');
    let waited = false;
    for (;;) {
      const locked = await this.redisOp('lock', (r) =>
        r.set(lockKey, token, 'PX', this.opts.lockTtlMs, 'NX'),
      );
      if (locked === FAILED) return { done: false };
      if (locked === 'OK') {
        try {
          // Someone may have filled it between our read and the lock; the versions read here are the ones the
          // factory's result is checked against.
          const again = await this.readL2(ns, valueKey, tags);
          if (again === FAILED) return { done: false };
          if (again.env && Date.now() < again.env.e) {
            this.putL1(id, again.env, again.raw!, epoch);
            return { done: true, value: again.env.v };
          }
          const result = await this.runFactory(factory, stale);
          if (result.fresh) {
            const { env, json } = this.envelope(ns, result.value, opts, result.delta);
            await this.writeL2(ns, key, json, env, opts, again.versions);
            this.putL1(id, env, json, epoch);
          }
          return { done: true, value: result.value };
        } finally {
          await this.redisOp('unlock', (r) => r.keelCacheRelease(lockKey, token));
        }
      }
      if (!waited) this.counters.lockWaits++;
      waited = true;
      let delay = 5;
      for (;;) {
        if (Date.now() >= deadline) {
          this.counters.lockFallbacks++;
          return { done: false };
        }
        await sleep(delay);
        delay = Math.min(delay * 2, 50);
        const poll = await this.redisOp('poll', (r) => r.multi().get(valueKey).exists(lockKey).exec());
        if (poll === FAILED || !poll) {
          this.counters.lockFallbacks++;
          return { done: false };
        }
        const raw = poll[0]?.[1] as string | null;
        const env = this.decode(raw);
        if (env && Date.now() < env.e) {
          this.counters.l2Hits++;
          this.putL1(id, env, raw!, epoch);
          return { done: true, value: env.v };
        }
        // The holder gave up without writing (its factory failed, or a flush rejected its value): take over.
        if (poll[1]?.[1] === 0) break;
      }
    }
  }

  private shouldRefreshEarly(entry: Pick<L1Entry, 'expiresAt' | 'delta'>, now: number): boolean {
    if (entry.delta <= 0) return false;
    // XFetch (Vattani et al.): refresh with a probability that rises as expiry nears and with how long the value
    // takes to compute, so regenerations of a hot key spread out before it expires instead of piling up after.
    return now - entry.delta * this.opts.xfetchBeta * Math.log(this.opts.random()) >= entry.expiresAt;
  }

  private refreshEarly(ns: string, key: string, factory: Factory<unknown>, opts: RememberOptions): void {
    const id = ns + key;
    if (this.refreshing.has(id) || this.inflight.has(id)) return;
    this.refreshing.add(id);
    this.counters.earlyRefreshes++;
    const epoch = this.epoch;
    const lockKey = this.lockKey(ns, key);
    const tags = (opts.tags ?? []).map((t) => ns + t);
    const token = randomBytes(12).toString('base64url');
    void (async () => {
      const locked = await this.redisOp('lock', (r) =>
        r.set(lockKey, token, 'PX', this.opts.lockTtlMs, 'NX'),
      );
      // Another process is already refreshing it: the current value stays until theirs lands.
      if (locked === null) return;
      try {
        const versions =
          locked === 'OK' ? await this.redisOp('versions', (r) => this.tagVersions(r, ns, tags)) : FAILED;
        const result = await this.runFactory(factory, undefined);
        const { env, json } = this.envelope(ns, result.value, opts, result.delta);
        if (versions !== FAILED) await this.writeL2(ns, key, json, env, opts, versions);
        this.putL1(id, env, json, epoch);
      } finally {
        if (locked === 'OK') await this.redisOp('unlock', (r) => r.keelCacheRelease(lockKey, token));
      }
    })()
      .catch((err: unknown) => this.options.logger?.warn({ err, key: id }, 'early cache refresh failed'))
      .finally(() => this.refreshing.delete(id));
  }

  private async runFactory(
    factory: Factory<unknown>,
    stale: { v: unknown } | undefined,
  ): Promise<{ value: unknown; delta: number; fresh: boolean }> {
    const started = performance.now();
    this.counters.factoryRuns++;
    try {
      const value = await factory();
      return { value, delta: Math.max(1, Math.round(performance.now() - started)), fresh: true };
    } catch (err) {
      this.counters.factoryErrors++;
      if (!stale) throw err;
      this.counters.staleServed++;
      this.options.logger?.warn({ err }, 'cache factory failed, serving the stale value');
      return { value: stale.v, delta: 0, fresh: false };
    }
  }

  private async readL2(
    ns: string,
    valueKey: string,
    tags: readonly string[],
  ): Promise<Maybe<{ env: Envelope | null; raw: string | null; versions: string[] }>> {
    return this.redisOp('read', async (r) => {
      if (!tags.length) {
        const raw = await r.get(valueKey);
        return { env: this.decode(raw), raw, versions: [] };
      }
      const res = await r
        .multi()
        .get(valueKey)
        .mget(...tags.map((t) => this.tagVersionKey(ns, t)))
        .exec();
      const raw = (res?.[0]?.[1] as string | null) ?? null;
      const versions = ((res?.[1]?.[1] as (string | null)[] | undefined) ?? []).map((v) => v ?? '0');
      return { env: this.decode(raw), raw, versions };
    });
  }

  private async tagVersions(r: RedisClient, ns: string, tags: readonly string[]): Promise<string[]> {
    if (!tags.length) return [];
    const values = await r.mget(...tags.map((t) => this.tagVersionKey(ns, t)));
    return values.map((v) => v ?? '0');
  }

  /** `versions` null writes unconditionally (an explicit set); otherwise only if no tag was flushed since. */
  private async writeL2(
    ns: string,
    key: string,
    json: string,
    env: Envelope,
    opts: RememberOptions,
    versions: string[] | null,
  ): Promise<void> {
    const tags = (opts.tags ?? []).map((t) => ns + t);
    const px = Math.max(1, env.s - Date.now());
    await this.redisOp('write', (r) =>
      (r as RedisClient & ScriptedRedis).keelCacheSet(
        1 + tags.length * 2,
        this.valueKey(ns, key),
        ...tags.map((t) => this.tagKey(ns, t)),
        ...tags.map((t) => this.tagVersionKey(ns, t)),
        json,
        px,
        tags.length,
        versions ? '1' : '0',
        ...(versions ?? []),
      ),
    );
  }

  private envelope(ns: string, value: unknown, opts: RememberOptions, delta: number) {
    const now = Date.now();
    const expiresAt = now + opts.ttl * 1000;
    const env: Envelope = {
      v: value,
      e: expiresAt,
      s: expiresAt + (opts.grace ?? this.opts.graceSeconds) * 1000,
      d: delta,
      t: (opts.tags ?? []).map((t) => ns + t),
    };
    return { env, json: superjson.stringify(env) };
  }

  private decode(raw: string | null | undefined): Envelope | null {
    if (!raw) return null;
    try {
      return superjson.parse<Envelope>(raw);
    } catch {
      return null;
    }
  }

  private putL1(id: string, env: Envelope, json: string, epoch: number): void {
    // An invalidation arrived while this value was being read or computed: it may predate the write that caused
    // the invalidation, so it must not be kept in memory (Redis is protected by the tag versions).
    if (epoch !== this.epoch) return;
    this.l1.set(id, {
      value: env.v,
      bytes: json.length,
      tags: env.t,
      expiresAt: env.e,
      staleUntil: env.s,
      delta: env.d,
    });
  }

  private applyLocal(inv: Invalidation): void {
    this.epoch++;
    if (inv.kind === 'clear') this.l1.clear();
    else if (inv.kind === 'tags') this.l1.deleteTags(inv.tags);
    else for (const k of inv.keys) this.l1.delete(k);
  }

  private async broadcast(inv: Invalidation): Promise<void> {
    const bus = this.options.bus;
    if (!bus || !this.redisUsable()) return;
    this.counters.sent++;
    try {
      const { receivers, acknowledged } = await bus.broadcast(inv);
      if (acknowledged < receivers) {
        this.counters.unacknowledged++;
        this.options.logger?.warn({ receivers, acknowledged }, 'cache invalidation not acknowledged by all');
      }
    } catch (err) {
      this.redisFailed('broadcast', err);
    }
  }

  private redisUsable(): boolean {
    const status = this.redis.status;
    if (status === 'end' || status === 'close' || status === 'reconnecting') return false;
    return Date.now() >= this.redisDownUntil;
  }

  /** Runs a Redis call with a deadline; any failure is counted, logged and turned into FAILED, never thrown. */
  private async redisOp<T>(
    what: string,
    fn: (r: RedisClient & ScriptedRedis) => Promise<T>,
  ): Promise<Maybe<T>> {
    if (!this.redisUsable()) return FAILED;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        fn(this.redis),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`redis ${what} took over ${this.opts.redisTimeoutMs} ms`)),
            this.opts.redisTimeoutMs,
          );
        }),
      ]);
    } catch (err) {
      this.redisFailed(what, err);
      return FAILED;
    } finally {
      clearTimeout(timer);
    }
  }

  private redisFailed(what: string, err: unknown): void {
    this.counters.redisErrors++;
    this.redisDownUntil = Date.now() + this.opts.redisRetryMs;
    const now = Date.now();
    if (now - this.lastErrorLog > 10_000) {
      this.lastErrorLog = now;
      this.options.logger?.warn(
        { err: err instanceof Error ? err.message : String(err), op: what },
        'cache is answering without Redis',
      );
    }
  }

  // Every key of a namespace (a tenant, or the global scope) carries the namespace as its hash tag: the scripts
  // that write a value with its tags, or flush tags with their entries, touch one slot on a Redis Cluster, and
  // tenants spread over the cluster (ADR 0014). Tags are stored scoped (`t:42:plan`), like the L1 index.
  private slot(ns: string): string {
    return `${this.base}${hashTag(ns)}`;
  }
  private valueKey(ns: string, key: string): string {
    return `${this.slot(ns)}v:${key}`;
  }
  private lockKey(ns: string, key: string): string {
    return `${this.slot(ns)}lock:${key}`;
  }
  private tagKey(ns: string, scopedTag: string): string {
    return `${this.slot(ns)}tag:${scopedTag.slice(ns.length)}`;
  }
  private tagVersionKey(ns: string, scopedTag: string): string {
    return `${this.slot(ns)}tagv:${scopedTag.slice(ns.length)}`;
  }

  /** The Redis keys of a value and its tags, as the write script receives them (for the slot test). */
  redisKeys(ns: string, key: string, tags: readonly string[]) {
    const scoped = tags.map((t) => ns + t);
    return {
      value: this.valueKey(ns, key),
      lock: this.lockKey(ns, key),
      tags: scoped.map((t) => this.tagKey(ns, t)),
      versions: scoped.map((t) => this.tagVersionKey(ns, t)),
    };
  }
}

/** A namespace of the cache: one per organization, plus the global one for data that belongs to no tenant. */
export class CacheScope {
  constructor(
    private readonly cache: Cache,
    readonly namespace: string,
  ) {}

  remember<T>(key: string, factory: () => Promise<T> | T, opts: RememberOptions): Promise<T> {
    return this.cache.remember(this.namespace, key, factory, opts);
  }
  get<T>(key: string): Promise<T | undefined> {
    return this.cache.get<T>(this.namespace, key);
  }
  set(key: string, value: unknown, opts: RememberOptions): Promise<void> {
    return this.cache.set(this.namespace, key, value, opts);
  }
  delete(...keys: string[]): Promise<void> {
    return this.cache.delete(this.namespace, keys);
  }
  flushTags(...tags: string[]): Promise<void> {
    return this.cache.flushTags(this.namespace, tags);
  }
}
