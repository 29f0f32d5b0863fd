import type { CacheBus } from '../../platform/cache/bus.ts';
import { LruStore } from '../../platform/cache/lru.ts';
import type { Logger } from '../../platform/logger/logger.ts';

export interface PrincipalCacheOptions {
  /** Invalidations to and from the other processes, acknowledged (the cache's bus on a channel of its own). */
  bus: CacheBus;
  /** Whether this process currently receives the bus's messages; while it does not, nothing is served from memory. */
  listening: () => boolean;
  maxEntries?: number;
  ttlMs?: number;
  logger?: Logger;
}

export interface Loaded<T> {
  value: T;
  /** Access keys (`user:<id>`, `token:<id>`, `org:<id>`, …) whose invalidation drops the entry. */
  tags: string[];
  /** A moment the value must not be served past (a token's expiry, a session's end), if sooner than the TTL. */
  until?: number | null;
}

export interface PrincipalCacheStats {
  hits: number;
  misses: number;
  /** Reads that skipped memory because the bus was not listening. */
  bypasses: number;
  entries: number;
  invalidations: { sent: number; received: number; unacknowledged: number; failed: number };
}

/**
 * Principals and memberships held in process memory, bounded by entries and by time, dropped in every process by
 * access key. The guarantee (ADR 0070): once `invalidate` returns, no process that listens to the bus serves an
 * entry tagged with those keys, because the bus waits for every listener's acknowledgement; and a process that does
 * not listen (its subscriber connection is down, so it may have missed a message) serves nothing from memory.
 */
export class PrincipalCache {
  private readonly store: LruStore;
  private readonly ttlMs: number;
  /** Bumped by every invalidation: a value read before one arrived is not kept (it may predate the change). */
  private epoch = 0;
  private started = false;
  private readonly counters = {
    hits: 0,
    misses: 0,
    bypasses: 0,
    sent: 0,
    received: 0,
    unacknowledged: 0,
    failed: 0,
  };

  constructor(private readonly opts: PrincipalCacheOptions) {
    const max = opts.maxEntries ?? 10_000;
    // Entries count one "byte" each: the bound is the number of principals and memberships.
    this.store = new LruStore(max, max);
    this.ttlMs = opts.ttlMs ?? 30_000;
  }

  async start(): Promise<void> {
    await this.opts.bus.start(
      (inv) => {
        this.counters.received++;
        if (inv.kind === 'tags') this.drop(inv.tags);
        else this.clear();
      },
      // The subscriber reconnected: invalidations sent meanwhile are lost, so nothing in memory can be trusted.
      () => this.clear(),
    );
    this.started = true;
  }

  close(): void {
    this.started = false;
    this.opts.bus.close();
    this.clear();
  }

  private usable(): boolean {
    if (this.started && this.opts.listening()) return true;
    if (this.store.size) this.clear();
    return false;
  }

  /** The cached value under `key`, or what `load` returns (cached when no invalidation ran meanwhile). */
  async read<T>(
    key: string,
    load: () => Promise<Loaded<T> | null>,
    isT: (v: unknown) => v is T,
  ): Promise<T | null> {
    if (!this.usable()) {
      this.counters.bypasses++;
      return (await load())?.value ?? null;
    }
    const hit = this.store.get(key)?.value;
    if (hit !== undefined && isT(hit)) {
      this.counters.hits++;
      return hit;
    }
    this.counters.misses++;
    const epoch = this.epoch;
    const loaded = await load();
    if (!loaded) return null;
    const now = Date.now();
    const until = Math.min(now + this.ttlMs, loaded.until ?? Number.POSITIVE_INFINITY);
    if (epoch === this.epoch && until > now && this.usable()) {
      this.store.set(key, {
        value: loaded.value,
        bytes: 1,
        tags: loaded.tags,
        expiresAt: until,
        staleUntil: until,
        delta: 0,
      });
    }
    return loaded.value;
  }

  /**
   * Drops the entries tagged with any of the keys here and in every other process, and returns once each listening
   * process has acknowledged. Never throws: a failure is logged and counted (the other processes then keep their
   * entries until their TTL at most, see ADR 0070).
   */
  async invalidate(keys: readonly string[]): Promise<void> {
    if (!keys.length) return;
    this.drop(keys);
    if (!this.started) return;
    this.counters.sent++;
    try {
      const { receivers, acknowledged } = await this.opts.bus.broadcast({ kind: 'tags', tags: [...keys] });
      if (acknowledged < receivers) {
        this.counters.unacknowledged++;
        this.opts.logger?.error(
          { receivers, acknowledged },
          'access invalidation not acknowledged by every process; they drop it at their TTL',
        );
      }
    } catch (err) {
      this.counters.failed++;
      this.opts.logger?.error({ err }, 'access invalidation not sent; other processes drop it at their TTL');
    }
  }

  stats(): PrincipalCacheStats {
    const c = this.counters;
    return {
      hits: c.hits,
      misses: c.misses,
      bypasses: c.bypasses,
      entries: this.store.size,
      invalidations: {
        sent: c.sent,
        received: c.received,
        unacknowledged: c.unacknowledged,
        failed: c.failed,
      },
    };
  }

  private drop(keys: readonly string[]): void {
    this.epoch++;
    this.store.deleteTags(keys);
  }

  private clear(): void {
    this.epoch++;
    this.store.clear();
  }
}
