import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Redis } from 'ioredis';
import type { QueueKeys } from './keys.ts';

export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  startedAt: number;
  lastSeenAt: number;
  status: 'running' | 'stopping';
  leader: boolean;
  processed: number;
  failed: number;
  memoryMb: number;
  supervisors: {
    name: string;
    balance: string;
    queues: { queue: string; concurrency: number; running: number; paused: boolean }[];
  }[];
  running: { id: string; name: string; queue: string; startedAt: number }[];
}

export const workerIdFor = () => `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;

/** What a heartbeat brings back: the fleet's controls, read in the same round trip. */
export interface FleetControls {
  paused: Set<string>;
  /** When `keel queue:terminate` last asked workers started before it to exit (ms), if ever. */
  terminateAt: number | null;
}

/**
 * The one registry of worker processes: each writes its `WorkerInfo` on every heartbeat (a hash by id, and when it
 * was last seen); the console lists those seen within four heartbeats; the leader forgets those gone for ten.
 */
export class WorkerRegistry {
  constructor(
    private readonly redis: Redis,
    private readonly keys: QueueKeys,
    private readonly heartbeatMs: number,
  ) {}

  async beat(info: WorkerInfo): Promise<FleetControls> {
    const { keys } = this;
    const [, , paused, terminate] = (
      (await this.redis
        .multi()
        .hset(keys.workers(), info.id, JSON.stringify(info))
        .zadd(keys.workersSeen(), info.lastSeenAt, info.id)
        .smembers(keys.paused())
        .get(keys.terminate())
        .exec()) ?? []
    ).map(([, v]) => v) as [unknown, unknown, string[], string | null];
    return { paused: new Set(paused), terminateAt: terminate ? Number(terminate) : null };
  }

  async list(now = Date.now()): Promise<WorkerInfo[]> {
    const ids = await this.redis.zrangebyscore(this.keys.workersSeen(), now - this.heartbeatMs * 4, '+inf');
    if (!ids.length) return [];
    const raw = await this.redis.hmget(this.keys.workers(), ...ids);
    return raw.filter((r): r is string => !!r).map((r) => JSON.parse(r) as WorkerInfo);
  }

  async remove(ids: string[]): Promise<void> {
    if (!ids.length) return;
    await this.redis
      .multi()
      .hdel(this.keys.workers(), ...ids)
      .zrem(this.keys.workersSeen(), ...ids)
      .exec();
  }

  /** Forgets workers not seen for ten heartbeats (killed without a goodbye). */
  async trim(now = Date.now()): Promise<void> {
    await this.remove(
      await this.redis.zrangebyscore(this.keys.workersSeen(), 0, now - this.heartbeatMs * 10),
    );
  }
}
