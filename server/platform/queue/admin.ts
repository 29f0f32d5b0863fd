import type { Redis } from 'ioredis';
import { QUEUE_NAMES, type QueueName } from './definition.ts';
import { queuedJobs } from './fairness.ts';
import type { QueueKeys } from './keys.ts';
import type { QueueSettings } from './settings.ts';

export interface BatchInfo {
  id: string;
  name: string;
  organizationId: string | null;
  total: number;
  pending: number;
  failed: number;
  processed: number;
  /** Share of jobs finished (succeeded or failed), 0–100. */
  progress: number;
  allowFailures: boolean;
  createdAt: number;
  cancelledAt: number | null;
  finishedAt: number | null;
  failedJobIds: string[];
}

export interface QueueCounts {
  queue: QueueName;
  waiting: number;
  active: number;
  delayed: number;
  paused: boolean;
}

/** The operators' side: what the queues hold, batches, and the fleet-wide controls (pause, terminate). */
export class QueueAdmin {
  constructor(
    private readonly redis: Redis,
    private readonly keys: QueueKeys,
    private readonly settings: QueueSettings,
  ) {}

  /** Waiting counts every list: bee's `waiting` and each organization's (ADR 0024). */
  async counts(): Promise<QueueCounts[]> {
    const p = this.redis.pipeline();
    for (const q of QUEUE_NAMES) {
      const k = this.keys.store(q);
      p.llen(k.active);
      p.zcard(k.delayed);
    }
    p.smembers(this.keys.paused());
    const [piped, waiting] = await Promise.all([
      p.exec(),
      Promise.all(QUEUE_NAMES.map((q) => queuedJobs(this.redis, this.keys.store(q)))),
    ]);
    const res = (piped ?? []).map(([, v]) => v);
    const paused = new Set((res[res.length - 1] as string[] | undefined) ?? []);
    return QUEUE_NAMES.map((queue, i) => ({
      queue,
      waiting: waiting[i]!.total,
      active: Number(res[i * 2]),
      delayed: Number(res[i * 2 + 1]),
      paused: paused.has(queue),
    }));
  }

  /** Whether the queue still has the job (waiting, delayed, active or being retried): its record is there. */
  async hasJob(queue: string, id: string): Promise<boolean> {
    return (await this.redis.hexists(this.keys.store(queue).jobs, id)) === 1;
  }

  async pause(queue: QueueName): Promise<void> {
    await this.redis.sadd(this.keys.paused(), queue);
  }

  async resume(queue: QueueName): Promise<void> {
    await this.redis.srem(this.keys.paused(), queue);
  }

  async pausedQueues(): Promise<Set<string>> {
    return new Set(await this.redis.smembers(this.keys.paused()));
  }

  /** Asks every worker started before now to finish its jobs and exit (its process manager starts a new one). */
  async terminateWorkers(): Promise<number> {
    const at = Date.now();
    await this.redis.set(this.keys.terminate(), at);
    return at;
  }

  async getBatch(id: string): Promise<BatchInfo | null> {
    const [h, failedIds] = await Promise.all([
      this.redis.hgetall(this.keys.batch(id)),
      this.redis.hkeys(this.keys.batchFailed(id)),
    ]);
    if (!h.id) return null;
    const total = Number(h.total);
    const pending = Number(h.pending);
    const failed = Number(h.failed);
    return {
      id,
      name: h.name ?? '',
      organizationId: h.org || null,
      total,
      pending,
      failed,
      processed: total - pending,
      progress: total ? Math.round(((total - pending + failed) / total) * 100) : 100,
      allowFailures: h.allowFailures === '1',
      createdAt: Number(h.createdAt),
      cancelledAt: h.cancelledAt ? Number(h.cancelledAt) : null,
      finishedAt: h.finishedAt ? Number(h.finishedAt) : null,
      failedJobIds: failedIds,
    };
  }

  async listBatches(offset: number, limit: number): Promise<{ total: number; items: BatchInfo[] }> {
    const key = this.keys.batches();
    await this.redis.zremrangebyscore(key, 0, Date.now() - this.settings.retention.batchesMs);
    const [total, ids] = await Promise.all([
      this.redis.zcard(key),
      this.redis.zrevrange(key, offset, offset + limit - 1),
    ]);
    const items = (await Promise.all(ids.map((id) => this.getBatch(id)))).filter((b): b is BatchInfo => !!b);
    return { total, items };
  }
}
