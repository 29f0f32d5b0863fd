import type { RedisClient } from '../redis/redis.ts';
import { runDetached } from '../async/detached.ts';
import { hashTag } from '../redis/slots.ts';
import { LOG_APPEND_LUA, type EventLog, type Retention } from '../pubsub/event-log.ts';

export type PresenceState = 'viewing' | 'editing';

/** One tab (one subscription) of one user on one server process. */
export interface PresenceTab {
  tabId: string;
  userId: string;
  name: string;
  state: PresenceState;
}

export interface PresenceUser {
  userId: string;
  name: string;
  state: PresenceState;
  tabs: number;
}

export type PresenceEvent =
  | { type: 'join'; userId: string; name: string; state: PresenceState }
  | { type: 'update'; userId: string; name: string; state: PresenceState }
  | { type: 'leave'; userId: string; name: string };

export interface PresenceOptions {
  /** A tab whose heartbeats stop is removed this long after its last one. */
  ttlMs: number;
  /** How often this process refreshes its tabs and sweeps expired ones of the rooms it watches. */
  heartbeatMs: number;
}

// A room is a sorted set (tab → expiry, in Redis time so that process clocks do not matter) plus a hash (tab →
// who). Joins, leaves and sweeps compare the user's aggregated state before and after inside one script and publish
// only on a change: three tabs are one entry, and two processes sweeping the same expired tab publish one leave.
const PRESENCE_LUA = `${LOG_APPEND_LUA}
local function user_state(h, user)
  local state = false
  local all = redis.call('HGETALL', h)
  for i = 1, #all, 2 do
    local info = cjson.decode(all[i + 1])
    if info.userId == user then
      if info.state == 'editing' then return 'editing' end
      state = 'viewing'
    end
  end
  return state
end
local function announce(before, after, info)
  if before == after then return end
  local ev
  if not after then
    ev = { type = 'leave', userId = info.userId, name = info.name }
  elseif not before then
    ev = { type = 'join', userId = info.userId, name = info.name, state = after }
  else
    ev = { type = 'update', userId = info.userId, name = info.name, state = after }
  end
  log_append(KEYS[3], cjson.encode(ev), ARGV[1], ARGV[2], ARGV[3], ARGV[4])
end
local function sweep(now)
  local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
  if #expired == 0 then return 0 end
  local users = {}
  local befores = {}
  for _, tab in ipairs(expired) do
    local raw = redis.call('HGET', KEYS[2], tab)
    if raw then
      local info = cjson.decode(raw)
      if befores[info.userId] == nil then
        befores[info.userId] = user_state(KEYS[2], info.userId)
        users[info.userId] = info
      end
    end
  end
  redis.call('ZREM', KEYS[1], unpack(expired))
  redis.call('HDEL', KEYS[2], unpack(expired))
  for user, info in pairs(users) do
    announce(befores[user], user_state(KEYS[2], user), info)
  end
  return #expired
end
local function keep(ttl)
  redis.call('PEXPIRE', KEYS[1], ttl * 2)
  redis.call('PEXPIRE', KEYS[2], ttl * 2)
end
local op = ARGV[5]
local now = now_ms()
if op == 'join' then
  local tab = ARGV[6]
  local info = cjson.decode(ARGV[7])
  local ttl = tonumber(ARGV[8])
  local before = user_state(KEYS[2], info.userId)
  redis.call('ZADD', KEYS[1], now + ttl, tab)
  redis.call('HSET', KEYS[2], tab, ARGV[7])
  keep(ttl)
  announce(before, user_state(KEYS[2], info.userId), info)
  return 1
elseif op == 'leave' then
  local raw = redis.call('HGET', KEYS[2], ARGV[6])
  if not raw then return 0 end
  local info = cjson.decode(raw)
  local before = user_state(KEYS[2], info.userId)
  redis.call('ZREM', KEYS[1], ARGV[6])
  redis.call('HDEL', KEYS[2], ARGV[6])
  announce(before, user_state(KEYS[2], info.userId), info)
  return 1
elseif op == 'sweep' then
  return sweep(now)
elseif op == 'snapshot' then
  sweep(now)
  local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
  local id = '0-0'
  if last[1] then id = last[1][1] end
  return { id, redis.call('HVALS', KEYS[2]) }
end
return redis.error_reply('unknown presence op')`;

/** The script as ioredis exposes it once defined with defineCommand. */
interface PresenceScript {
  keelPresence(
    zset: string,
    hash: string,
    log: string,
    maxLen: number,
    maxAgeMs: number,
    channel: string,
    sharded: '0' | '1',
    op: string,
    ...args: (string | number)[]
  ): Promise<unknown>;
}

/**
 * Who is in a room (a document), across every server process. Each process refreshes the tabs it serves every
 * `heartbeatMs`; a tab not refreshed within `ttlMs` (its process died or hung) is swept by any process watching the
 * room, which publishes the leave. Changes go to the room's durable log, so they reach subscribers on every process.
 */
export class PresenceStore {
  private readonly tabs = new Map<string, { room: string; tab: PresenceTab }>();
  private readonly watched = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly redis: RedisClient,
    private readonly log: EventLog,
    private readonly keyPrefix: string,
    readonly options: PresenceOptions,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {
    if (!(redis as Partial<PresenceScript>).keelPresence) {
      redis.defineCommand('keelPresence', { numberOfKeys: 3, lua: PRESENCE_LUA });
    }
  }

  get retention(): Retention {
    return { maxLen: 500, maxAgeMs: Math.max(this.options.ttlMs * 4, 60_000) };
  }

  /** The log channel of a room's presence events. */
  channel(room: string): string {
    return `presence:${room}`;
  }

  /** The room's keys: tagged like its log's stream (the room's channel), so the script touches one slot. */
  keys(room: string): [tabs: string, who: string, log: string] {
    const tag = hashTag(this.channel(room));
    return [
      `${this.keyPrefix}presence:${tag}:tabs`,
      `${this.keyPrefix}presence:${tag}:who`,
      this.log.key(this.channel(room)),
    ];
  }

  private run(room: string, op: string, ...args: (string | number)[]) {
    return (this.redis as unknown as PresenceScript).keelPresence(
      ...this.keys(room),
      this.retention.maxLen,
      this.retention.maxAgeMs,
      this.log.redisChannel(this.channel(room)),
      this.log.shardedFlag,
      op,
      ...args,
    );
  }

  async join(room: string, tab: PresenceTab): Promise<void> {
    const info = JSON.stringify({ userId: tab.userId, name: tab.name, state: tab.state });
    await this.run(room, 'join', tab.tabId, info, this.options.ttlMs);
  }

  async leave(room: string, tabId: string): Promise<void> {
    await this.run(room, 'leave', tabId);
  }

  async sweep(room: string): Promise<number> {
    return Number(await this.run(room, 'sweep'));
  }

  /** Everyone in the room, one entry per user, and the log id the snapshot is current up to. */
  async snapshot(room: string): Promise<{ id: string; users: PresenceUser[] }> {
    const [id, raw] = (await this.run(room, 'snapshot')) as [string, string[]];
    const users = new Map<string, PresenceUser>();
    for (const r of raw) {
      const info = JSON.parse(r) as Omit<PresenceTab, 'tabId'>;
      const seen = users.get(info.userId);
      if (seen) {
        seen.tabs++;
        if (info.state === 'editing') seen.state = 'editing';
      } else {
        users.set(info.userId, { userId: info.userId, name: info.name, state: info.state, tabs: 1 });
      }
    }
    return { id, users: [...users.values()].sort((a, b) => a.name.localeCompare(b.name)) };
  }

  /** Joins and keeps the tab alive with heartbeats until the returned function (the goodbye) is called. */
  async enter(room: string, tab: PresenceTab): Promise<() => Promise<void>> {
    this.tabs.set(tab.tabId, { room, tab });
    this.ensureTimer();
    await this.join(room, tab);
    return async () => {
      this.tabs.delete(tab.tabId);
      await this.leave(room, tab.tabId);
    };
  }

  /** Sweeps the room while the returned function has not been called (someone here is watching it). */
  watch(room: string): () => void {
    this.watched.set(room, (this.watched.get(room) ?? 0) + 1);
    this.ensureTimer();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = (this.watched.get(room) ?? 1) - 1;
      if (n > 0) this.watched.set(room, n);
      else this.watched.delete(room);
    };
  }

  private ensureTimer(): void {
    if (this.timer) return;
    // Started by the first subscription that joins or watches a room: not in that subscription's scope.
    this.timer = runDetached(() => setInterval(() => void this.tick(), this.options.heartbeatMs));
    this.timer.unref();
  }

  /** One heartbeat: refresh every local tab, then sweep every watched room. */
  async tick(): Promise<void> {
    if (!this.tabs.size && !this.watched.size) {
      if (this.timer) clearInterval(this.timer);
      this.timer = null;
      return;
    }
    const work: Promise<unknown>[] = [];
    for (const { room, tab } of this.tabs.values()) work.push(this.join(room, tab));
    for (const room of this.watched.keys()) work.push(this.sweep(room));
    for (const r of await Promise.allSettled(work)) if (r.status === 'rejected') this.onError(r.reason);
  }

  /** Stops heartbeats (the process is going away; its tabs expire unless they say goodbye). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Leaves every local tab: called on graceful shutdown so others see the leave at once. */
  async leaveAll(): Promise<void> {
    const all = [...this.tabs.values()];
    this.tabs.clear();
    await Promise.allSettled(all.map(({ room, tab }) => this.leave(room, tab.tabId)));
  }
}
