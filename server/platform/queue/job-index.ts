import type { Redis } from 'ioredis';
import { QUEUE_NAMES, type QueueName } from './definition.ts';
import type { Envelope } from './envelope.ts';
import type { QueueKeys } from './keys.ts';
import { scripts } from './scripts.ts';
import type { QueueSettings } from './settings.ts';

export type JobStatus =
  'queued' | 'delayed' | 'running' | 'retrying' | 'released' | 'completed' | 'failed' | 'cancelled';
export type JobList = 'recent' | 'completed' | 'failed';

export interface JobSummary {
  id: string;
  name: string;
  queue: string;
  status: JobStatus;
  organizationId: string | null;
  tags: string[];
  attempts: number;
  batchId: string | null;
  enqueuedAt: number;
  availableAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  runtimeMs: number | null;
  worker: string | null;
  error: string | null;
  payload: string | null;
}

const PAYLOAD_PREVIEW = 8 * 1024;

const num = (v: string | undefined) => (v === undefined || v === '' ? null : Number(v));

/** One job's index update, flattened for the INDEX_WRITE script (see scripts.ts for the layout). */
class Rec {
  readonly args: (string | number)[] = [];
  constructor(key: string, ttlMs: number) {
    this.args.push(key, ttlMs);
  }
  section(items: (string | number)[], width: number): this {
    this.args.push(items.length / width, ...items);
    return this;
  }
}

/**
 * Per-job metadata plus ordered recent / completed / failed lists (sorted sets by time), trimmed by age the way
 * Horizon does. A job that has not run yet is described by bee-queue's own record (its envelope in
 * `bq:<queue>:jobs`), so dispatch writes nothing here; each attempt's outcome writes the full record. Outcomes are
 * queued in memory and written by one script call per event-loop turn for every job of that turn.
 */
export class JobIndex {
  private readonly knownTags = new Set<string>();
  private buffered: (string | number)[] = [];
  private waiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  private scheduled = false;

  constructor(
    private readonly redis: Redis,
    private readonly keys: QueueKeys,
    private readonly retention: QueueSettings['retention'],
  ) {}

  private write(rec: Rec): Promise<void> {
    for (const a of rec.args) this.buffered.push(a);
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    return done;
  }

  private flush(): void {
    this.scheduled = false;
    const args = this.buffered;
    const waiters = this.waiters;
    this.buffered = [];
    this.waiters = [];
    if (!waiters.length) return;
    scripts.indexWrite(this.redis, [], args).then(
      () => waiters.forEach((w) => w.resolve()),
      (err: unknown) => waiters.forEach((w) => w.reject(err)),
    );
  }

  private describe(id: string, queue: QueueName, env: Envelope): (string | number)[] {
    const payload = JSON.stringify(env.payload) ?? 'null';
    return [
      'id',
      id,
      'name',
      env.name,
      'queue',
      queue,
      'org',
      env.org ?? '',
      'tags',
      JSON.stringify(env.tags ?? []),
      'batch',
      env.batch ?? '',
      'enqueuedAt',
      env.at,
      'payload',
      payload.length > PAYLOAD_PREVIEW ? payload.slice(0, PAYLOAD_PREVIEW) + '…' : payload,
    ];
  }

  private tagWrites(id: string, env: Envelope): { zadd: (string | number)[]; sadd: string[] } {
    const zadd: (string | number)[] = [this.keys.recent(), env.at, id];
    const sadd: string[] = [];
    for (const tag of env.tags ?? []) {
      zadd.push(this.keys.tag(tag), env.at, id);
      // The set of tags only serves the trim; once per tag and process is enough.
      if (!this.knownTags.has(tag)) {
        this.knownTags.add(tag);
        sadd.push(this.keys.tags(), tag);
      }
    }
    return { zadd, sadd };
  }

  /** A job id queued again (an operator's retry): its last outcome is cleared before it can run. */
  requeued(id: string, queue: QueueName, env: Envelope): Promise<void> {
    const { zadd, sadd } = this.tagWrites(id, env);
    const rec = new Rec(this.keys.job(id), this.retention.recentMs + this.retention.failedMs)
      .section(
        [...this.describe(id, queue, env), 'status', 'queued', 'attempts', 0, 'availableAt', env.qa],
        2,
      )
      .section(['startedAt', 'finishedAt', 'runtimeMs', 'error', 'envelope', 'worker'], 1)
      .section(zadd, 3)
      .section([this.keys.failed(), id], 2)
      .section([], 2)
      .section(sadd, 2)
      .section([], 2);
    return this.write(rec);
  }

  /** The outcome of one attempt. */
  finished(
    id: string,
    queue: QueueName,
    env: Envelope,
    f: {
      status: JobStatus;
      startedAt: number;
      finishedAt: number;
      worker: string;
      error?: string;
      nextAt?: number;
      /** Failed jobs keep their full envelope, so they can be retried from Redis alone. */
      keepEnvelope?: boolean;
    },
  ): Promise<void> {
    const final = f.status === 'completed' || f.status === 'cancelled' || f.status === 'failed';
    const failed = f.status === 'failed';
    const fields: (string | number)[] = [
      ...this.describe(id, queue, env),
      'status',
      f.status,
      'attempts',
      env.attempts,
      'startedAt',
      f.startedAt,
      'finishedAt',
      f.finishedAt,
      'runtimeMs',
      f.finishedAt - f.startedAt,
      'worker',
      f.worker,
    ];
    if (f.error) fields.push('error', f.error.slice(0, 4000));
    if (f.nextAt) fields.push('availableAt', f.nextAt);
    if (f.keepEnvelope) fields.push('envelope', JSON.stringify(env));
    const ttl = final
      ? failed
        ? this.retention.failedMs
        : this.retention.completedMs
      : this.retention.recentMs + this.retention.failedMs;
    const { zadd, sadd } = this.tagWrites(id, env);
    if (final) zadd.push(failed ? this.keys.failed() : this.keys.completed(), f.finishedAt, id);
    const rec = new Rec(this.keys.job(id), ttl)
      .section(fields, 2)
      .section(f.error ? [] : ['error'], 1)
      .section(zadd, 3)
      .section([], 2)
      .section(final ? [this.keys.stalls(queue), id] : [], 2)
      .section(sadd, 2)
      .section(final && env.unique ? [env.unique, id] : [], 2);
    return this.write(rec);
  }

  /** A job that has not run yet, from bee-queue's record (status queued, delayed or running). */
  private async fromBee(id: string): Promise<(JobSummary & { envelope: Envelope }) | null> {
    const p = this.redis.pipeline();
    for (const q of QUEUE_NAMES) p.hget(this.keys.beeKey(q, 'jobs'), id);
    const res = (await p.exec()) ?? [];
    const i = res.findIndex(([, v]) => typeof v === 'string');
    const queue = QUEUE_NAMES[i];
    if (!queue) return null;
    const env = (JSON.parse(res[i]![1] as string) as { data: Envelope }).data;
    const [delayed, active] = await Promise.all([
      this.redis.zscore(this.keys.beeKey(queue, 'delayed'), id),
      this.redis.lpos(this.keys.beeKey(queue, 'active'), id),
    ]);
    return {
      id,
      name: env.name,
      queue,
      status: active !== null ? 'running' : delayed !== null ? 'delayed' : 'queued',
      organizationId: env.org ?? null,
      tags: env.tags ?? [],
      attempts: env.attempts,
      batchId: env.batch ?? null,
      enqueuedAt: env.at,
      availableAt: env.qa,
      startedAt: null,
      finishedAt: null,
      runtimeMs: null,
      worker: null,
      error: null,
      payload: JSON.stringify(env.payload) ?? null,
      envelope: env,
    };
  }

  /** Jobs waiting (or delayed) in one queue, next to run first. */
  async waiting(
    queue: QueueName,
    opts: { offset: number; limit: number },
  ): Promise<{ total: number; items: JobSummary[] }> {
    const waiting = this.keys.beeKey(queue, 'waiting');
    const [total, ids] = await Promise.all([
      this.redis.llen(waiting),
      // bee pushes on the left and takes from the right.
      this.redis.lrange(waiting, -(opts.offset + opts.limit), -(opts.offset + 1)),
    ]);
    const items = await Promise.all(ids.reverse().map((id) => this.fromBee(id)));
    return {
      total,
      items: items.filter((j): j is NonNullable<typeof j> => !!j).map(({ envelope: _e, ...j }) => j),
    };
  }

  async get(id: string): Promise<(JobSummary & { envelope: Envelope | null }) | null> {
    const h = await this.redis.hgetall(this.keys.job(id));
    // Not run yet, or running its first attempt: bee-queue's record describes it.
    if (!h.id || h.status === 'queued' || h.status === 'retrying' || h.status === 'released') {
      const live = await this.fromBee(id);
      if (live) return h.id ? { ...toSummary(h), status: live.status, envelope: live.envelope } : live;
    }
    if (!h.id) return null;
    return { ...toSummary(h), envelope: h.envelope ? (JSON.parse(h.envelope) as Envelope) : null };
  }

  async list(
    list: JobList,
    opts: { offset: number; limit: number; tag?: string | undefined },
  ): Promise<{ total: number; items: JobSummary[] }> {
    const key = opts.tag ? this.keys.tag(opts.tag) : this.keys[list]();
    const [total, ids] = await Promise.all([
      this.redis.zcard(key),
      this.redis.zrevrange(key, opts.offset, opts.offset + opts.limit - 1),
    ]);
    return { total, items: await this.many(ids) };
  }

  async many(ids: string[]): Promise<JobSummary[]> {
    if (!ids.length) return [];
    const p = this.redis.pipeline();
    for (const id of ids) p.hgetall(this.keys.job(id));
    const res = (await p.exec()) ?? [];
    return res
      .map(([, h]) => h as Record<string, string>)
      .filter((h) => h.id)
      .map(toSummary);
  }

  async forget(id: string): Promise<void> {
    await this.redis
      .multi()
      .del(this.keys.job(id))
      .zrem(this.keys.failed(), id)
      .zrem(this.keys.completed(), id)
      .zrem(this.keys.recent(), id)
      .exec();
  }

  /** Drops list entries past their retention (the hashes expire on their own). */
  async trim(now = Date.now()): Promise<void> {
    const tags = await this.redis.smembers(this.keys.tags());
    const p = this.redis.pipeline();
    p.zremrangebyscore(this.keys.recent(), 0, now - this.retention.recentMs);
    p.zremrangebyscore(this.keys.completed(), 0, now - this.retention.completedMs);
    p.zremrangebyscore(this.keys.failed(), 0, now - this.retention.failedMs);
    for (const tag of tags) p.zremrangebyscore(this.keys.tag(tag), 0, now - this.retention.failedMs);
    await p.exec();
  }
}

function toSummary(h: Record<string, string>): JobSummary {
  return {
    id: h.id!,
    name: h.name ?? '',
    queue: h.queue ?? '',
    status: (h.status ?? 'queued') as JobStatus,
    organizationId: h.org || null,
    tags: h.tags ? (JSON.parse(h.tags) as string[]) : [],
    attempts: Number(h.attempts ?? 0),
    batchId: h.batch || null,
    enqueuedAt: Number(h.enqueuedAt ?? 0),
    availableAt: num(h.availableAt),
    startedAt: num(h.startedAt),
    finishedAt: num(h.finishedAt),
    runtimeMs: num(h.runtimeMs),
    worker: h.worker ?? null,
    error: h.error ?? null,
    payload: h.payload ?? null,
  };
}
