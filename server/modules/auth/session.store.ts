import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

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
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
  ) {}

  async create(userId: string): Promise<string> {
    const id = randomBytes(32).toString('base64url');
    const key = this.prefix + hashId(id);
    const data: SessionData = { userId, createdAt: Date.now() };
    await this.redis
      .multi()
      .set(key, JSON.stringify(data), 'EX', this.ttlSeconds)
      .sadd(`${this.prefix}user:${userId}`, key)
      .expire(`${this.prefix}user:${userId}`, this.ttlSeconds)
      .exec();
    return id;
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

  async destroy(id: string): Promise<void> {
    await this.redis.del(this.prefix + hashId(id));
  }

  async destroyAllForUser(userId: string): Promise<void> {
    const setKey = `${this.prefix}user:${userId}`;
    const keys = await this.redis.smembers(setKey);
    await this.redis.del(setKey, ...keys);
  }
}
