import type { Redis } from 'ioredis';
import { QUEUE_NAMES, type AnyJobDefinition, type QueueName } from './definition.ts';
import type { Envelope } from './envelope.ts';
import type { QueueKeys } from './keys.ts';
import { scripts } from './scripts.ts';
import { SearchIndex, type SearchFilter } from './search-index.ts';
import { redactPayload } from './sensitive.ts';
import type { QueueSettings } from './settings.ts';
import { envelopeOf } from './store.ts';
import { TurnBatch } from './turn-batch.ts';

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

export interface Outcome {
  status: JobStatus;
  startedAt: number;
  finishedAt: number;
  worker: string;
  error?: string;
  nextAt?: number;
  /** Failed jobs keep their full envelope, so they can be retried from Redis alone. */
  keepEnvelope?: boolean;
}

/** One job's index update, flattened as the index script reads it. */
export type IndexRecord = (string | number)[];

const PAYLOAD_PREVIEW = 8 * 1024;

/** A stored record: the summary, plus the full envelope for failed jobs (so they can be retried from Redis alone). */
type StoredRecord = JobSummary & { envelope?: Envelope };

/** One job's index update, flattened for the index script (see scripts.ts for the layout). */
function record(
  key: string,
  ttlMs: number,
  rec: StoredRecord,
  w: { zadd: (string | number)[]; zrem?: string[]; hdel?: string[]; sadd: string[]; delIfEq?: string[] },
): IndexRecord {
  const zrem = w.zrem ?? [];
  const hdel = w.hdel ?? [];
  const delIfEq = w.delIfEq ?? [];
  return [
    key,
    ttlMs,
    JSON.stringify(rec),
    w.zadd.length / 3,
    ...w.zadd,
    zrem.length / 2,
    ...zrem,
    hdel.length / 2,
    ...hdel,
    w.sadd.length / 2,
    ...w.sadd,
    delIfEq.length / 2,
    ...delIfEq,
  ];
}

/**
 * Per-job metadata plus ordered recent / completed / failed lists (sorted sets by time), trimmed by age the way
 * Horizon does. A job that has not run yet is described by its record in the queue (its envelope in
 * `bq:<queue>:jobs`), so dispatch writes nothing here; each attempt's outcome replaces the job's record, one JSON
 * string with a TTL (one SET where a hash took a multi-field write and an expiry). Outcomes are written with the
 * job's finish (scripts.finish), or queued in memory and written by one script call per event-loop turn.
 */
export class JobIndex {
  private readonly writes = new TurnBatch<IndexRecord>(async (records) => {
    await scripts.indexWrite(this.redis, [], records.flat());
  });

  /** Secondary indexes for ops search (ADR 0026), written with the records. */
  readonly search: SearchIndex;

  constructor(
    private readonly redis: Redis,
    private readonly keys: QueueKeys,
    private readonly retention: QueueSettings['retention'],
    /** A job's definition, for its declared search fields and the sensitive fields redacted in its records. */
    private readonly definitionOf: (name: string) => AnyJobDefinition | undefined = () => undefined,
  ) {
    this.search = new SearchIndex(redis, keys, retention, definitionOf);
  }

  /** Fresh jobs, searchable from their dispatch (their records come with their first outcome). */
  dispatched(jobs: { id: string; env: Envelope }[]): Promise<void> {
    return this.search.dispatched(jobs);
  }

  /** Buffers a record; every record of one event-loop turn goes out in one script call. */
  async write(rec: IndexRecord): Promise<void> {
    await this.writes.add(rec);
  }

  /** What every summary says of a job; a stored record keeps only the first `previewChars` of the payload. */
  private describe(id: string, queue: QueueName, env: Envelope, previewChars = PAYLOAD_PREVIEW) {
    const payload = JSON.stringify(redactPayload(this.definitionOf(env.name), env.payload)) ?? 'null';
    return {
      id,
      name: env.name,
      queue,
      organizationId: env.org ?? null,
      tags: env.tags ?? [],
      batchId: env.batch ?? null,
      enqueuedAt: env.at,
      payload: payload.length > previewChars ? payload.slice(0, previewChars) + '…' : payload,
    };
  }

  private tagWrites(id: string, env: Envelope): { zadd: (string | number)[]; sadd: string[] } {
    const zadd: (string | number)[] = [this.keys.recent(), env.at, id];
    const sadd: string[] = [];
    for (const tag of env.tags ?? []) {
      zadd.push(this.keys.tag(tag), env.at, id);
      // The set of tags serves the trim, which removes a tag once its list is empty: written with every entry (in
      // the same script call), so a tag used again after its removal is listed again. (A per-process memo of tags
      // already listed grew by one per export and import, and missed those removals.)
      sadd.push(this.keys.tags(), tag);
    }
    return { zadd, sadd };
  }

  /** A job id queued again (an operator's retry): its last outcome is cleared before it can run. */
  requeued(id: string, queue: QueueName, env: Envelope): Promise<void> {
    const { zadd, sadd } = this.tagWrites(id, env);
    const ix = this.search.writes(id, env, 'queued');
    const rec: StoredRecord = {
      ...this.describe(id, queue, env),
      status: 'queued',
      attempts: 0,
      availableAt: env.qa,
      startedAt: null,
      finishedAt: null,
      runtimeMs: null,
      worker: null,
      error: null,
    };
    return this.write(
      record(this.keys.job(id), this.retention.recentMs + this.retention.failedMs, rec, {
        zadd: [...zadd, ...ix.zadd],
        zrem: [this.keys.failed(), id, ...ix.zrem],
        sadd: [...sadd, ...ix.sadd],
      }),
    );
  }

  /** The outcome of one attempt. */
  finished(id: string, queue: QueueName, env: Envelope, f: Outcome): Promise<void> {
    return this.write(this.outcome(id, queue, env, f));
  }

  /**
   * The outcome of one attempt as arguments for the index script, for a caller that writes it in the same step as
   * the job's move out of `active` (scripts.finish).
   */
  outcome(id: string, queue: QueueName, env: Envelope, f: Outcome): IndexRecord {
    const final = f.status === 'completed' || f.status === 'cancelled' || f.status === 'failed';
    const failed = f.status === 'failed';
    const rec: StoredRecord = {
      ...this.describe(id, queue, env),
      status: f.status,
      attempts: env.attempts,
      // Set when the attempt was delayed (a delayed dispatch, a backoff, a release), else it ran "at once".
      availableAt: f.nextAt ?? (env.qa !== env.at ? env.qa : null),
      startedAt: f.startedAt,
      finishedAt: f.finishedAt,
      runtimeMs: f.finishedAt - f.startedAt,
      worker: f.worker,
      error: f.error ? f.error.slice(0, 4000) : null,
      // Not for a job with sensitive fields: its retry reads failed_jobs, so the index never holds the values.
      ...(f.keepEnvelope && !this.definitionOf(env.name)?.sensitive?.length ? { envelope: env } : {}),
    };
    const ttl = final
      ? failed
        ? this.retention.failedMs
        : this.retention.completedMs
      : this.retention.recentMs + this.retention.failedMs;
    const { zadd, sadd } = this.tagWrites(id, env);
    if (final) zadd.push(failed ? this.keys.failed() : this.keys.completed(), f.finishedAt, id);
    const ix = this.search.writes(id, env, f.status);
    zadd.push(...ix.zadd);
    sadd.push(...ix.sadd);
    return record(this.keys.job(id), ttl, rec, {
      zadd,
      zrem: ix.zrem,
      ...(final ? { hdel: [this.keys.stalls(queue), id] } : {}),
      sadd,
      ...(final && env.unique ? { delIfEq: [env.unique, id] } : {}),
    });
  }

  /** A job that has not run yet, from its record in the queue (status queued, delayed or running). */
  private async fromQueue(id: string): Promise<(JobSummary & { envelope: Envelope }) | null> {
    const p = this.redis.pipeline();
    for (const q of QUEUE_NAMES) p.hget(this.keys.store(q).jobs, id);
    const res = (await p.exec()) ?? [];
    const i = res.findIndex(([, v]) => typeof v === 'string');
    const queue = QUEUE_NAMES[i];
    if (!queue) return null;
    const env = envelopeOf(res[i]![1] as string);
    const [delayed, active] = await Promise.all([
      this.redis.zscore(this.keys.store(queue).delayed, id),
      this.redis.lpos(this.keys.store(queue).active, id),
    ]);
    return {
      // Still in the queue's record, the payload is there whole.
      ...this.describe(id, queue, env, Infinity),
      status: active !== null ? 'running' : delayed !== null ? 'delayed' : 'queued',
      attempts: env.attempts,
      availableAt: env.qa,
      startedAt: null,
      finishedAt: null,
      runtimeMs: null,
      worker: null,
      error: null,
      envelope: env,
    };
  }

  /** Jobs waiting (or delayed) in one queue, next to run first. */
  async waiting(
    queue: QueueName,
    opts: { offset: number; limit: number },
  ): Promise<{ total: number; items: JobSummary[] }> {
    const k = this.keys.store(queue);
    // bee's `waiting` and every organization's list (ADR 0024), each next to run first.
    const [total, ids] = (await scripts.waitingPage(
      this.redis,
      [k.waiting, k.orgs],
      [k.orgWaiting, opts.offset, opts.limit],
    )) as [number, string[]];
    const items = await Promise.all(ids.map((id) => this.fromQueue(id)));
    return {
      total,
      items: items.filter((j): j is NonNullable<typeof j> => !!j).map(({ envelope: _e, ...j }) => j),
    };
  }

  async get(id: string): Promise<(JobSummary & { envelope: Envelope | null }) | null> {
    const rec = await this.stored(id);
    // Not run yet, or running its first attempt: the queue's record describes it.
    if (!rec || rec.status === 'queued' || rec.status === 'retrying' || rec.status === 'released') {
      const live = await this.fromQueue(id);
      if (live) return rec ? { ...summary(rec), status: live.status, envelope: live.envelope } : live;
    }
    // Neither read found it: it finished between the two (the finish script writes the record and drops the queue's in
    // one step), so the record is there now.
    const done = rec ?? (await this.stored(id));
    return done ? { ...summary(done), envelope: done.envelope ?? null } : null;
  }

  private async stored(id: string): Promise<StoredRecord | null> {
    const raw = await this.redis.get(this.keys.job(id));
    return raw ? (JSON.parse(raw) as StoredRecord) : null;
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

  /** One page of a search (ADR 0026): summaries newest dispatch first, and where the next page starts. */
  async find(
    filter: SearchFilter,
    opts: { cursor?: string | undefined; limit: number; budget: number },
  ): Promise<{ items: JobSummary[]; cursor: string | null; walked: number }> {
    const page = await this.search.search(filter, opts);
    return {
      items: await this.summaries(page.hits.map((h) => h.id)),
      cursor: page.cursor,
      walked: page.walked,
    };
  }

  /**
   * Summaries in the order of `ids`: the stored record, or the queue's record of a job that has not run yet. An id
   * with neither (deleted, or its record expired before the trim reached its entries) is left out.
   */
  async summaries(ids: string[]): Promise<JobSummary[]> {
    if (!ids.length) return [];
    const raw = await this.redis.mget(ids.map((id) => this.keys.job(id)));
    const items = await Promise.all(
      ids.map(async (id, i) => {
        const r = raw[i];
        if (r) return summary(JSON.parse(r) as StoredRecord);
        const live = await this.fromQueue(id);
        if (!live) return null;
        const { envelope: _e, ...rest } = live;
        return rest;
      }),
    );
    return items.filter((j): j is JobSummary => !!j);
  }

  async many(ids: string[]): Promise<JobSummary[]> {
    if (!ids.length) return [];
    const raw = await this.redis.mget(ids.map((id) => this.keys.job(id)));
    return raw.filter((r): r is string => !!r).map((r) => summary(JSON.parse(r) as StoredRecord));
  }

  async forget(id: string): Promise<void> {
    await this.redis
      .multi()
      .del(this.keys.job(id))
      .zrem(this.keys.failed(), id)
      .zrem(this.keys.completed(), id)
      .zrem(this.keys.recent(), id)
      .zrem(this.keys.ix('r', 'all'), id)
      .zrem(this.keys.ix('f', 'all'), id)
      .exec();
  }

  /** Drops list entries past their retention (the records expire on their own). */
  async trim(now = Date.now()): Promise<void> {
    const p = this.redis.pipeline();
    p.zremrangebyscore(this.keys.recent(), 0, now - this.retention.recentMs);
    p.zremrangebyscore(this.keys.completed(), 0, now - this.retention.completedMs);
    p.zremrangebyscore(this.keys.failed(), 0, now - this.retention.failedMs);
    await p.exec();
    // Per-id tags (`export:<id>`) would otherwise keep one member each in the tag set for ever.
    await scripts.trimTags(
      this.redis,
      [this.keys.tags()],
      [this.keys.tag(''), now - this.retention.failedMs],
    );
    await this.search.trim(now);
  }
}

function summary(rec: StoredRecord): JobSummary {
  const { envelope: _envelope, ...rest } = rec;
  return rest;
}
