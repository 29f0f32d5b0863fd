import { setTimeout as delay } from 'node:timers/promises';
import type { RedisClient } from '../redis/redis.ts';
import { hashTag } from '../redis/slots.ts';
import { LiveQueue } from './live-queue.ts';
import type { PubSub } from './pubsub.ts';

/** How much of a channel's history is kept for replay: whichever bound is reached first. */
export interface Retention {
  maxLen: number;
  maxAgeMs: number;
}

export interface LoggedEvent<T> {
  /** The Redis Stream id (`<ms>-<seq>`): increasing per channel, and what clients send back as lastEventId. */
  id: string;
  data: T;
}

/**
 * What a durable subscription yields: events, or a gap when the client's last id fell out of the retention
 * window (it must refetch its state; `id` is where the log continues from).
 */
export type LogItem<T> =
  ({ kind: 'event' } & LoggedEvent<T>) | { kind: 'gap'; id: string } | { kind: 'start'; id: string };

/** How long a subscription keeps retrying its backfill after a reconnect before it ends with the error. */
const RESUME_GIVE_UP_MS = 30_000;
const RESUME_MAX_PAUSE_MS = 2_000;

export const STREAM_ID = /^\d{1,16}-\d{1,16}$/;

export function compareIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  const dm = Number(am) - Number(bm);
  return dm !== 0 ? Math.sign(dm) : Math.sign(Number(as) - Number(bs));
}

/** Thrown by a subscription whose consumer fell too far behind the live stream. */
export class SubscriberOverflowError extends Error {
  constructor() {
    super('subscriber fell too far behind the live stream');
    this.name = 'SubscriberOverflowError';
  }
}

/**
 * Lua helpers for scripts that append to a log: XADD and PUBLISH in one atomic step, so the order subscribers
 * receive live messages is the order of the stream and "skip ids already sent" is enough to merge backfill and live
 * without losing or repeating anything.
 */
export const LOG_APPEND_LUA = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function delete_entries(key, entries)
  if #entries == 0 then return end
  local ids = {}
  for i, e in ipairs(entries) do ids[i] = e[1] end
  redis.call('XDEL', key, unpack(ids))
end
local function log_append(key, payload, maxlen, maxage, channel, sharded)
  local id = redis.call('XADD', key, '*', 'd', payload)
  -- Trimming with XDEL (XTRIM does not record what it removed) keeps max-deleted-entry-id exact: that is how a
  -- replay knows whether the client's last id fell out of the log.
  local excess = redis.call('XLEN', key) - tonumber(maxlen)
  if excess > 0 then delete_entries(key, redis.call('XRANGE', key, '-', '+', 'COUNT', math.min(excess, 1000))) end
  local cutoff = tostring(now_ms() - tonumber(maxage))
  delete_entries(key, redis.call('XRANGE', key, '-', cutoff, 'COUNT', 1000))
  redis.call('PEXPIRE', key, maxage)
  -- On a cluster the channel carries the key's hash tag, so SPUBLISH stays on this script's shard.
  local publish = 'PUBLISH'
  if sharded == '1' then publish = 'SPUBLISH' end
  redis.call(publish, channel, '{"id":"' .. id .. '","d":' .. payload .. '}')
  return id
end
`;

const PUBLISH_SCRIPT = `${LOG_APPEND_LUA}
return log_append(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])`;

const PAGE = 500;
const RESUME = Symbol('resume');
type Queued<T> = LoggedEvent<T> | typeof RESUME;

export interface SubscribeOptions<T> {
  lastEventId?: string | null | undefined;
  signal: AbortSignal;
  retention: Retention;
  /** Messages with the same key replace each other while waiting for a slow consumer (progress, metrics). */
  coalesceKey?: (data: T) => string | null;
  /** How many live messages may wait for the consumer before it is considered too slow. */
  maxQueued?: number;
  /**
   * Runs once listening has started (when there is no lastEventId) and returns the id the subscriber's state is
   * current up to, e.g. of a snapshot read in the same atomic step; it is yielded as a `start` item.
   */
  startAt?: () => Promise<string>;
}

/** The script as ioredis exposes it once defined with defineCommand. */
interface LogScripts {
  keelLogPublish(
    key: string,
    payload: string,
    maxLen: number,
    maxAgeMs: number,
    channel: string,
    sharded: '0' | '1',
  ): Promise<string>;
}

/**
 * Durable channels: every message is appended to a bounded Redis Stream (the replay log) and published for live
 * delivery in the same atomic step. A subscriber listens first, then backfills from the client's last id, then
 * goes live, skipping ids it has already sent.
 */
export class EventLog {
  constructor(
    private readonly redis: RedisClient,
    private readonly pubsub: PubSub,
    /** Key prefix of the streams, inside the process's key space. */
    private readonly keyPrefix: string,
  ) {
    if (!(redis as Partial<LogScripts>).keelLogPublish) {
      redis.defineCommand('keelLogPublish', { numberOfKeys: 1, lua: PUBLISH_SCRIPT });
    }
  }

  /** The key prefix of this log's streams: what separates deployments sharing one Redis (or one database). */
  get keySpace(): string {
    return this.keyPrefix;
  }

  /**
   * The stream of a channel. The channel is the key's hash tag: on a Redis Cluster a channel's stream, its live
   * pub/sub channel and the keys scripts append to it with (presence) share one slot, while channels spread over
   * the cluster (ADR 0014).
   */
  key(channel: string): string {
    return `${this.keyPrefix}${hashTag(channel)}`;
  }

  private liveChannel(channel: string): string {
    return `log:${hashTag(channel)}`;
  }

  /** The `sharded` argument of log_append: SPUBLISH on a cluster, PUBLISH on one server. */
  get shardedFlag(): '0' | '1' {
    return this.pubsub.sharded ? '1' : '0';
  }

  /** The Redis pub/sub channel live copies of a log's entries go to (for scripts calling log_append). */
  redisChannel(channel: string): string {
    return this.pubsub.redisChannel(this.liveChannel(channel));
  }

  async publish<T>(channel: string, data: T, retention: Retention): Promise<string> {
    return (this.redis as unknown as LogScripts).keelLogPublish(
      this.key(channel),
      JSON.stringify(data),
      retention.maxLen,
      retention.maxAgeMs,
      this.redisChannel(channel),
      this.shardedFlag,
    );
  }

  /** The id of the newest entry, or null when the channel has none. */
  async latestId(channel: string): Promise<string | null> {
    const rows = (await this.redis.xrevrange(this.key(channel), '+', '-', 'COUNT', 1)) as [
      string,
      string[],
    ][];
    return rows[0]?.[0] ?? null;
  }

  /** Entries after `afterId`, oldest first, in pages; a gap first when entries after it were trimmed away. */
  async *since<T>(
    channel: string,
    afterId: string,
    retention: Retention,
    coalesceKey?: (data: T) => string | null,
    checkGap = true,
  ): AsyncGenerator<LogItem<T>> {
    const key = this.key(channel);
    const gap = checkGap ? await this.gapAfter(key, afterId, retention) : null;
    if (gap) {
      yield { kind: 'gap', id: gap };
      return;
    }
    let cursor = afterId;
    for (;;) {
      const rows = (await this.redis.xrange(key, `(${cursor}`, '+', 'COUNT', PAGE)) as [string, string[]][];
      const page = rows.map(([id, fields]) => ({ id, data: JSON.parse(fields[1] ?? 'null') as T }));
      // Within a page, a coalescable message superseded by a newer one of the same key is skipped.
      const lastOfKey = new Map<string, number>();
      if (coalesceKey) {
        page.forEach((e, i) => {
          const k = coalesceKey(e.data);
          if (k !== null) lastOfKey.set(k, i);
        });
      }
      for (const [i, e] of page.entries()) {
        const k = coalesceKey?.(e.data) ?? null;
        if (k !== null && lastOfKey.get(k) !== i) continue;
        yield { kind: 'event', ...e };
      }
      if (rows.length < PAGE) return;
      cursor = rows[rows.length - 1]![0];
    }
  }

  /** Null when everything after `afterId` is still in the log, else the id the log continues from. */
  private async gapAfter(key: string, afterId: string, retention: Retention): Promise<string | null> {
    const olderThanRetention = Date.now() - Number(afterId.split('-')[0]) > retention.maxAgeMs;
    let info: unknown[];
    try {
      info = (await this.redis.xinfo('STREAM', key)) as unknown[];
    } catch {
      // No stream: nothing was published within the retention window, or the client's id is older than it.
      return olderThanRetention ? '0-1' : null;
    }
    const field = (name: string) => {
      const i = info.indexOf(name);
      return i >= 0 ? info[i + 1] : undefined;
    };
    const last = field('last-generated-id');
    const maxDeleted = field('max-deleted-entry-id');
    const first = (field('first-entry') as [string, string[]] | null | undefined)?.[0];
    const trimmedAfter = typeof maxDeleted === 'string' && compareIds(afterId, maxDeleted) < 0;
    // A stream that expired and started again has forgotten what it deleted: so old an id is a gap unless current.
    const expiredAfter = olderThanRetention && (!first || compareIds(afterId, first) < 0);
    if (trimmedAfter || expiredAfter) return typeof last === 'string' ? last : '0-1';
    return null;
  }

  /**
   * Listen, backfill from `lastEventId` (when given), then live. Ends when the signal aborts; throws
   * SubscriberOverflowError when the consumer falls `maxQueued` messages behind.
   */
  async *subscribe<T>(channel: string, opts: SubscribeOptions<T>): AsyncGenerator<LogItem<T>> {
    const { signal, retention, coalesceKey } = opts;
    const queue = new LiveQueue<Queued<T>>(opts.maxQueued ?? 1000, (q) =>
      q === RESUME || !coalesceKey ? null : coalesceKey(q.data),
    );
    let overflowed = false;
    // Where the subscriber's history starts: the client's last id; or "now", read before listening, so that what is
    // published while the subscription is being set up is backfilled (and deduplicated) instead of lost.
    let cursor: string | null = opts.lastEventId ?? null;
    let checkGap = cursor !== null;
    if (cursor === null && !opts.startAt) cursor = (await this.latestId(channel)) ?? '0-0';
    const stop = await this.pubsub.listen<{ id: string; d: T }>(this.liveChannel(channel), (m) => {
      if (!queue.push({ id: m.id, data: m.d })) {
        overflowed = true;
        queue.end();
      }
    });
    const offReconnect = this.pubsub.onReconnect(() => queue.push(RESUME));
    try {
      if (cursor === null) {
        cursor = await opts.startAt!();
        yield { kind: 'start', id: cursor };
      }
      let last: string = cursor;
      const backfill = async function* (log: EventLog): AsyncGenerator<LogItem<T>> {
        for await (const item of log.since<T>(channel, last, retention, coalesceKey, checkGap)) {
          if (signal.aborted) return;
          last = item.id;
          yield item;
        }
        // After the first backfill, the starting point is an id this subscriber saw: a later gap is real.
        checkGap = true;
      };
      // After a reconnect the log's server may still be failing over (a cluster shard's master died): the
      // subscription waits for it rather than ending, up to RESUME_GIVE_UP_MS; live messages queue meanwhile.
      const resume = async function* (log: EventLog): AsyncGenerator<LogItem<T>> {
        const since = Date.now();
        for (let attempt = 0; ; attempt++) {
          try {
            yield* backfill(log);
            return;
          } catch (err) {
            if (signal.aborted) return;
            if (Date.now() - since > RESUME_GIVE_UP_MS) throw err;
            await delay(Math.min(RESUME_MAX_PAUSE_MS, 100 * 2 ** attempt), undefined, { signal }).catch(
              () => undefined,
            );
            if (signal.aborted) return;
          }
        }
      };
      yield* backfill(this);
      for (;;) {
        const next = await queue.next(signal);
        if (next === undefined) break;
        if (next === RESUME) {
          yield* resume(this);
          continue;
        }
        if (compareIds(next.id, last) <= 0) continue;
        last = next.id;
        yield { kind: 'event', ...next };
      }
      if (overflowed && !signal.aborted) throw new SubscriberOverflowError();
    } finally {
      stop();
      offReconnect();
    }
  }
}
