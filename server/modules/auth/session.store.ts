import { createHash, randomBytes } from 'node:crypto';
import type { RedisClient } from '../../platform/redis/redis.ts';

export interface SessionData {
  userId: string;
  createdAt: number;
}

const hashId = (id: string) => createHash('sha256').update(id).digest('base64url');

/** The revocation key of the live subscriptions opened with a session (hashed: revocations travel over pub/sub). */
export const sessionAccessKey = (id: string) => `session:${hashId(id)}`;

/**
 * Browser sessions live in Redis under their own key space (never the cache's), keyed by the SHA-256 of the
 * cookie's id so that a dump of Redis does not hand out live sessions. A per-user set allows "sign out everywhere".
 */
export class SessionStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
  ) {}

  private userSet(userId: string): string {
    return `${this.prefix}user:${userId}`;
  }

  async create(userId: string): Promise<string> {
    const id = randomBytes(32).toString('base64url');
    const key = this.prefix + hashId(id);
    const data: SessionData = { userId, createdAt: Date.now() };
    await this.redis
      .multi()
      .set(key, JSON.stringify(data), 'EX', this.ttlSeconds)
      .sadd(this.userSet(userId), key)
      .expire(this.userSet(userId), this.ttlSeconds)
      .exec();
    // Sessions that expired on their own leave their entry behind, and every sign-in renews the set's lifetime, so
    // a user who signs in often would keep them for ever: each sign-in drops the entries whose session is gone.
    await this.pruneUserSet(userId);
    return id;
  }

  private async pruneUserSet(userId: string): Promise<void> {
    const keys = await this.redis.smembers(this.userSet(userId));
    if (!keys.length) return;
    const exists = await this.redis.pipeline(keys.map((k) => ['exists', k])).exec();
    const gone = keys.filter((_, i) => exists?.[i]?.[1] === 0);
    if (gone.length) await this.redis.srem(this.userSet(userId), ...gone);
  }

  async get(id: string): Promise<SessionData | null> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(id)) return null;
    const raw = await this.redis.get(this.prefix + hashId(id));
    if (!raw) return null;
    try {
      return JSON.parse(raw) as SessionData;
    } catch {
      return null;
    }
  }

  /** Ends one session and takes it out of its user's index (a signed-out session left there grew it for ever). */
  async destroy(id: string): Promise<void> {
    const key = this.prefix + hashId(id);
    const session = await this.get(id);
    const multi = this.redis.multi().del(key);
    if (session) multi.srem(this.userSet(session.userId), key);
    await multi.exec();
  }

  async destroyAllForUser(userId: string): Promise<void> {
    const setKey = this.userSet(userId);
    const keys = await this.redis.smembers(setKey);
    await this.redis.del(setKey, ...keys);
  }
}
