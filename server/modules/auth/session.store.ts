import { createHash, randomBytes } from 'node:crypto';
import type { RedisClient } from '../../platform/redis/redis.ts';
import { deleteKeys, waitForReplica } from '../../platform/redis/slots.ts';

export interface SessionData {
  userId: string;
  createdAt: number;
}

const hashId = (id: string) => createHash('sha256').update(id).digest('base64url');

/** The revocation key of the live subscriptions opened with a session (hashed: revocations travel over pub/sub). */
export const sessionAccessKey = (id: string) => `session:${hashId(id)}`;

/** How long a session write waits for a replica's acknowledgement on a cluster (WAIT), at most. */
const REPLICA_ACK_MS = 500;

// SADD and EXPIRE as one step, on the set's slot.
const INDEX_ADD = `redis.call('sadd', KEYS[1], ARGV[1]) return redis.call('expire', KEYS[1], ARGV[2])`;

/**
 * Browser sessions live in Redis under their own key space (never the cache's), keyed by the SHA-256 of the
 * cookie's id so that a dump of Redis does not hand out live sessions. A per-user set allows "sign out everywhere".
 *
 * A session and its user's index lie in different slots on a Redis Cluster, so they are written one after the
 * other, index first: a session never exists outside the index, and an index entry whose session is missing is
 * pruned at the next sign-in. On a cluster with replicas a session write returns once a replica has it (WAIT), so
 * a master failing over right after a sign-in does not sign the user out (ADR 0014).
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
    await this.redis.eval(INDEX_ADD, 1, this.userSet(userId), key, this.ttlSeconds);
    await this.replicated(this.userSet(userId));
    await this.redis.set(key, JSON.stringify(data), 'EX', this.ttlSeconds);
    await this.replicated(key);
    // Sessions that expired on their own leave their entry behind, and every sign-in renews the set's lifetime, so
    // a user who signs in often would keep them for ever: each sign-in drops the entries whose session is gone.
    await this.pruneUserSet(userId);
    return id;
  }

  private async pruneUserSet(userId: string): Promise<void> {
    const keys = await this.redis.smembers(this.userSet(userId));
    if (!keys.length) return;
    // One EXISTS per session: on a cluster they lie in different slots (no multi-key command spans them).
    const exists = await Promise.all(keys.map((k) => this.redis.exists(k)));
    const gone = keys.filter((_, i) => exists[i] === 0);
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
    await this.redis.del(key);
    await this.replicated(key);
    if (session) await this.redis.srem(this.userSet(session.userId), key);
  }

  async destroyAllForUser(userId: string): Promise<void> {
    const setKey = this.userSet(userId);
    const keys = await this.redis.smembers(setKey);
    // Sessions first, then the index: a failure in between leaves the index pointing at what is left.
    await deleteKeys(this.redis, keys);
    await this.redis.del(setKey);
  }

  /**
   * On a cluster with replicas, returns once a replica has the write to `key` (or REPLICA_ACK_MS passed): a master
   * failing over right after a sign-in then does not sign the user out.
   */
  private async replicated(key: string): Promise<void> {
    await waitForReplica(this.redis, key, REPLICA_ACK_MS);
  }
}
