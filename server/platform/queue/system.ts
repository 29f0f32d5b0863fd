import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { z } from 'zod';
import { AppError } from '../../../shared/errors.ts';
import { redisUrlFor, type Config } from '../../config/env.ts';
import { currentOrganizationId, withDbScope, type Em } from '../db/context.ts';
import { scrubString } from '../errors/scrub.ts';
import type { Logger } from '../logger/logger.ts';
import { currentTraceCarrier } from '../tracing/propagation.ts';
import { createBee, type BeeJob, type KeelBee } from './bee.ts';
import {
  isQueueName,
  QUEUE_NAMES,
  type AnyJobDefinition,
  type CallbackEvent,
  type JobDefinition,
  type QueueName,
} from './definition.ts';
import { readPositionForJob } from '../db/replicas/read-your-writes.ts';
import { traceparentFor, type ChainState, type ChainStep, type Envelope } from './envelope.ts';
import { JobIndex } from './job-index.ts';
import { QueueKeys } from './keys.ts';
import { QueueMetrics } from './metrics.ts';
import { CALLBACK_JOB, type JobRegistry } from './registry.ts';
import { defineScripts, scripts } from './scripts.ts';
import type { QueueSettings } from './settings.ts';

export interface FailedJobRecord {
  id: string;
  queue: QueueName;
  name: string;
  organizationId: string | null;
  batchId: string | null;
  payload: unknown;
  envelope: Envelope;
  error: string;
  attempts: number;
  failedAt: Date;
}

/** Where failed jobs go besides the Redis index (modules/jobs writes them to PostgreSQL's failed_jobs). */
export interface FailedJobSink {
  record(failure: FailedJobRecord): Promise<void>;
  forget(ids: string[]): Promise<void>;
}

export interface DispatchOptions {
  queue?: QueueName;
  delayMs?: number;
  /** The organization the job acts for; by default the current tenant scope's. `null` for a system job. */
  organizationId?: string | null;
  traceparent?: string;
  tags?: string[];
}

export type DispatchResult =
  { dispatched: true; id: string } | { dispatched: false; id: string | null; reason: 'duplicate' };

export interface JobSpec<D extends AnyJobDefinition = AnyJobDefinition> {
  job: D | string;
  payload: unknown;
  options?: Pick<DispatchOptions, 'queue' | 'delayMs' | 'tags'>;
}

export interface BatchOptions {
  name?: string;
  then?: string;
  catch?: string;
  finally?: string;
  allowFailures?: boolean;
  organizationId?: string | null;
  traceparent?: string;
}

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

interface Prepared {
  id: string;
  /** A retry of a job id the index has seen before. */
  again?: boolean;
  queue: QueueName;
  env: Envelope;
  delayUntil: number | null;
  def: AnyJobDefinition;
  uniqueKey?: string;
  uniqueTtl?: number;
}

export class JobTimeoutError extends Error {
  constructor(ms: number) {
    super(`Job timed out after ${ms} ms`);
    this.name = 'JobTimeoutError';
  }
}

export interface QueueSystemOptions {
  config: Config;
  /** Keel's own connection (index, metrics, locks); bee-queue opens its own to the queue role's server. */
  redis: Redis;
  em: Em;
  logger: Logger;
  registry: JobRegistry;
  settings: QueueSettings;
  failedSink?: FailedJobSink;
  /**
   * Handed to every handler, `failed()` hook and callback as `ctx.services`: the composition root (deps.ts) gives
   * the process's services, typed there and in the definitions (modules/jobs/define.ts).
   */
  services?: unknown;
}

/**
 * Keel's job system on bee-queue: dispatch (with unique ids, delays, chains and batches), the job index, metrics,
 * failure handling shared by workers and the stall checker, and the read side used by the ops console and CLI.
 * Workers are built from it (worker.ts).
 */
export class QueueSystem {
  readonly keys: QueueKeys;
  readonly index: JobIndex;
  readonly metrics: QueueMetrics;
  readonly config: Config;
  readonly redis: Redis;
  readonly em: Em;
  readonly logger: Logger;
  readonly registry: JobRegistry;
  readonly settings: QueueSettings;
  readonly services: unknown;
  failedSink: FailedJobSink | undefined;
  private readonly producers = new Map<QueueName, KeelBee>();
  private readonly limiters = new Map<string, RateLimiterRedis>();
  private closed = false;

  constructor(opts: QueueSystemOptions) {
    this.config = opts.config;
    this.redis = opts.redis;
    this.em = opts.em;
    this.logger = opts.logger;
    this.registry = opts.registry;
    this.settings = opts.settings;
    this.failedSink = opts.failedSink;
    this.services = opts.services;
    this.keys = new QueueKeys(opts.config.keyPrefix);
    this.index = new JobIndex(this.redis, this.keys, this.settings.retention);
    this.metrics = new QueueMetrics(this.redis, this.keys, this.settings.retention.metricsMs, this.logger);
    defineScripts(this.redis);
  }

  // ---------------------------------------------------------------------------------------------- dispatch

  /** Validates and queues one job. A unique job already pending is not queued again: the result says so. */
  async dispatch<D extends AnyJobDefinition>(
    job: D | string,
    payload: D extends JobDefinition<infer S> ? z.input<S> : unknown,
    opts: DispatchOptions = {},
  ): Promise<DispatchResult> {
    const prepared = this.prepare(job, payload, opts);
    if (prepared.uniqueKey) {
      const ok = await this.redis.set(prepared.uniqueKey, prepared.id, 'PX', prepared.uniqueTtl!, 'NX');
      if (!ok) {
        return { dispatched: false, id: await this.redis.get(prepared.uniqueKey), reason: 'duplicate' };
      }
    }
    try {
      await this.save([prepared]);
    } catch (err) {
      if (prepared.uniqueKey) await scripts.delIfEq(this.redis, [prepared.uniqueKey], [prepared.id]);
      throw err;
    }
    return { dispatched: true, id: prepared.id };
  }

  /** Many jobs in two round trips; unique ids are not checked here (use dispatch for unique jobs). */
  async dispatchMany(specs: JobSpec[], opts: DispatchOptions = {}): Promise<string[]> {
    const prepared = specs.map((s) => this.prepare(s.job, s.payload, { ...opts, ...s.options }, false));
    await this.save(prepared);
    return prepared.map((p) => p.id);
  }

  /** Each step runs only after the previous one succeeded; `catch` (a registered callback) runs once on the first failure. */
  async chain(
    steps: JobSpec[],
    opts: DispatchOptions & { catch?: string } = {},
  ): Promise<{ chainId: string; firstJobId: string }> {
    if (!steps.length) throw new AppError('VALIDATION_FAILED', 'A chain needs at least one job');
    if (opts.catch) this.requireCallback(opts.catch);
    // Every step is validated now, so a bad payload in step 5 is refused at dispatch, not discovered hours later.
    const checked: ChainStep[] = steps.map((s) => {
      const p = this.prepare(s.job, s.payload, { ...opts, ...s.options }, false);
      return {
        name: p.env.name,
        payload: p.env.payload,
        ...(s.options?.queue ? { queue: s.options.queue } : {}),
        ...(s.options?.delayMs ? { delayMs: s.options.delayMs } : {}),
      };
    });
    const chainId = randomUUID();
    const [first, ...rest] = checked;
    const state: ChainState = { id: chainId, index: 0, rest, ...(opts.catch ? { catch: opts.catch } : {}) };
    const firstJobId = await this.dispatchChainStep(first!, state, {
      organizationId: this.orgFrom(opts),
      traceparent: opts.traceparent ?? this.activeTraceparent(),
    });
    return { chainId, firstJobId };
  }

  /** A batch: every job validated first, then queued together; callbacks are registered names. */
  async batch(
    specs: JobSpec[],
    opts: BatchOptions = {},
  ): Promise<{ id: string; total: number; jobIds: string[] }> {
    if (!specs.length) throw new AppError('VALIDATION_FAILED', 'A batch needs at least one job');
    for (const cb of [opts.then, opts.catch, opts.finally]) if (cb) this.requireCallback(cb);
    const id = randomUUID();
    const organizationId = this.orgFrom(opts);
    const traceparent = opts.traceparent ?? this.activeTraceparent();
    const prepared = specs.map((s) =>
      this.prepare(s.job, s.payload, { organizationId, traceparent, ...s.options }, false),
    );
    for (const p of prepared) p.env.batch = id;
    const key = this.keys.batch(id);
    const now = Date.now();
    await this.redis
      .multi()
      .hset(key, {
        id,
        name: opts.name ?? '',
        org: organizationId ?? '',
        total: prepared.length,
        pending: prepared.length,
        failed: 0,
        allowFailures: opts.allowFailures ? '1' : '0',
        then: opts.then ?? '',
        catch: opts.catch ?? '',
        finally: opts.finally ?? '',
        createdAt: now,
      })
      .pexpire(key, this.settings.retention.batchesMs)
      .zadd(this.keys.batches(), now, id)
      .exec();
    await this.save(prepared);
    return { id, total: prepared.length, jobIds: prepared.map((p) => p.id) };
  }

  /** Queues a failed job again under its own id, with fresh attempt counters. */
  async redispatch(id: string, queue: QueueName, env: Envelope): Promise<void> {
    const def = this.registry.get(env.name);
    if (!def) throw new AppError('VALIDATION_FAILED', `Unknown job "${env.name}"`);
    const now = Date.now();
    const fresh: Envelope = { ...env, attempts: 0, exceptions: 0, qa: now, at: now };
    delete fresh.unique;
    await this.redis.hdel(this.keys.stalls(queue), id);
    await this.save([{ id, queue, env: fresh, delayUntil: null, def, again: true }]);
  }

  /** Retries a failed job from the Redis index (7 days by default; older ones from failed_jobs via modules/jobs). */
  async retry(id: string): Promise<{ id: string }> {
    const job = await this.index.get(id);
    if (!job?.envelope || job.status !== 'failed') {
      throw new AppError('NOT_FOUND', `No failed job ${id} in the index`);
    }
    await this.redispatch(id, job.queue as QueueName, job.envelope);
    await this.failedSink?.forget([id]);
    return { id };
  }

  /** The dispatching request's trace (OpenTelemetry's active context) continues in the job; else a new one. */
  private activeTraceparent(): string {
    return traceparentFor(currentTraceCarrier().traceparent);
  }

  private orgFrom(opts: { organizationId?: string | null }): string | null {
    return opts.organizationId === undefined ? (currentOrganizationId() ?? null) : opts.organizationId;
  }

  private requireCallback(name: string): void {
    if (!this.registry.hasCallback(name)) {
      throw new AppError(
        'VALIDATION_FAILED',
        `Unknown callback "${name}": list its defineCallback() with the job definitions`,
      );
    }
  }

  private definition(job: AnyJobDefinition | string): AnyJobDefinition {
    const name = typeof job === 'string' ? job : job.name;
    const def = this.registry.get(name);
    if (!def)
      throw new AppError('VALIDATION_FAILED', `Unknown job "${name}"`, {
        fieldErrors: { name: ['is not a registered job'] },
      });
    return def;
  }

  private prepare(
    job: AnyJobDefinition | string,
    payload: unknown,
    opts: DispatchOptions,
    checkUnique = true,
  ): Prepared {
    const def = this.definition(job);
    const parsed = def.payload.safeParse(payload);
    if (!parsed.success) {
      const fieldErrors: Record<string, string[]> = {};
      for (const issue of parsed.error.issues) {
        (fieldErrors[issue.path.map(String).join('.') || '_'] ??= []).push(issue.message);
      }
      throw new AppError('VALIDATION_FAILED', `Invalid payload for job "${def.name}"`, { fieldErrors });
    }
    const json = JSON.stringify(payload ?? null);
    const bytes = Buffer.byteLength(json);
    if (bytes > this.settings.maxPayloadBytes) {
      throw new AppError(
        'PAYLOAD_TOO_LARGE',
        `Payload of job "${def.name}" is ${bytes} bytes; the limit is ${this.settings.maxPayloadBytes} (store large data elsewhere and pass its id)`,
      );
    }
    const queue = opts.queue ?? def.queue;
    if (!isQueueName(queue)) throw new AppError('VALIDATION_FAILED', `Unknown queue "${String(queue)}"`);
    const delayMs = opts.delayMs ?? 0;
    if (!Number.isFinite(delayMs) || delayMs < 0)
      throw new AppError('VALIDATION_FAILED', 'delayMs must be ≥ 0');
    const now = Date.now();
    const delayUntil = delayMs > 0 ? now + delayMs : null;
    const organizationId = this.orgFrom(opts);
    const tags = [...(def.tags?.(parsed.data) ?? []), ...(opts.tags ?? [])];
    const id = randomUUID();
    const env: Envelope = {
      v: 1,
      name: def.name,
      // The payload as given (JSON-shaped): the worker parses it again, so transforms run where the handler is.
      payload,
      ...(organizationId ? { org: organizationId } : {}),
      trace: opts.traceparent ?? this.activeTraceparent(),
      ...(tags.length ? { tags } : {}),
      at: now,
      qa: delayUntil ?? now,
      attempts: 0,
      exceptions: 0,
    };
    const prepared: Prepared = { id, queue, env, delayUntil, def };
    if (checkUnique && def.uniqueId) {
      prepared.uniqueKey = this.keys.unique(def.name, def.uniqueId(parsed.data));
      prepared.uniqueTtl = def.uniqueForMs ?? 60 * 60_000;
      env.unique = prepared.uniqueKey;
    }
    return prepared;
  }

  producer(queue: QueueName): KeelBee {
    let bee = this.producers.get(queue);
    if (!bee) {
      bee = createBee(queue, {
        redisUrl: redisUrlFor(this.config, 'queue')!,
        prefix: this.config.keyPrefix,
        worker: false,
        stallIntervalMs: this.settings.stall.intervalMs,
        delayedDebounceMs: this.settings.delayedDebounceMs,
      });
      this.producers.set(queue, bee);
    }
    return bee;
  }

  /**
   * A fresh job needs no index write (bee's record describes it until its first outcome); a retried id's last
   * outcome is cleared before the job can run again.
   */
  private async save(prepared: Prepared[]): Promise<void> {
    if (this.closed) throw new AppError('SERVICE_UNAVAILABLE', 'The queue system is closed');
    const rp = await readPositionForJob(this.em);
    if (rp) for (const j of prepared) j.env.rp = rp;
    await Promise.all(prepared.filter((j) => j.again).map((j) => this.index.requeued(j.id, j.queue, j.env)));
    const byQueue = new Map<QueueName, BeeJob[]>();
    for (const j of prepared) {
      const bee = this.producer(j.queue);
      const job = bee.createJob(j.env) as BeeJob;
      job.setId(j.id);
      if (j.delayUntil) job.delayUntil(j.delayUntil);
      const list = byQueue.get(j.queue) ?? [];
      list.push(job);
      byQueue.set(j.queue, list);
    }
    await Promise.all(
      [...byQueue].map(async ([queue, jobs]) => {
        await this.producer(queue).ready();
        // One save per job, not bee's saveAll: a batch cannot reload scripts lost with a Redis restart (bee.ts).
        // node_redis writes them without waiting for replies, so they still share round trips.
        await Promise.all(jobs.map((job) => job.save()));
      }),
    );
  }

  private async dispatchChainStep(
    step: ChainStep,
    chain: ChainState,
    ctx: { organizationId: string | null; traceparent: string },
  ): Promise<string> {
    const def = this.definition(step.name);
    const now = Date.now();
    const delayUntil = step.delayMs ? now + step.delayMs : null;
    const env: Envelope = {
      v: 1,
      name: def.name,
      payload: step.payload,
      ...(ctx.organizationId ? { org: ctx.organizationId } : {}),
      trace: ctx.traceparent,
      at: now,
      qa: delayUntil ?? now,
      attempts: 0,
      exceptions: 0,
      chain,
    };
    // A deterministic id per step: if a worker dies after queueing the next step but before finishing this one,
    // the rerun's second dispatch of that step is refused by bee-queue as a duplicate id.
    const id = `chain:${chain.id}:${chain.index}`;
    await this.save([{ id, queue: step.queue ?? def.queue, env, delayUntil, def }]);
    return id;
  }

  // ---------------------------------------------------------------------------------------- outcomes (workers)

  /** Called by the runner after a successful attempt. */
  async afterSuccess(id: string, env: Envelope): Promise<void> {
    if (env.chain && env.chain.rest.length) {
      const [next, ...rest] = env.chain.rest;
      await this.dispatchChainStep(
        next!,
        { ...env.chain, index: env.chain.index + 1, rest },
        { organizationId: env.org ?? null, traceparent: env.trace },
      );
    }
    if (env.batch) {
      const r = (await scripts.batchSuccess(
        this.redis,
        [this.keys.batch(env.batch), this.keys.batchDone(env.batch), this.keys.batchFailed(env.batch)],
        [id, Date.now()],
      )) as number[];
      if (r[1]) await this.batchCallback(env.batch, 'then');
      if (r[2]) await this.batchCallback(env.batch, 'finally');
    }
  }

  /**
   * The one path for a job that will not run again (last attempt failed, or stalled too often): index, failed
   * store, the definition's failed() hook, batch and chain bookkeeping. Errors here are logged, never thrown, so
   * one broken sink cannot keep a job looping.
   */
  async failFinally(
    id: string,
    queue: QueueName,
    env: Envelope,
    error: Error,
    f: { startedAt: number; worker: string },
  ): Promise<void> {
    const now = Date.now();
    // Scrubbed as the logs are: an error's text often carries what the handler had at hand (connection strings,
    // tokens in URLs), and it is kept in the index, failed_jobs and whatever the failed() hook stores.
    const message = scrubString(error.message || String(error));
    const stack = error.stack ? scrubString(error.stack) : message;
    await this.index
      .finished(id, queue, env, {
        status: 'failed',
        startedAt: f.startedAt,
        finishedAt: now,
        worker: f.worker,
        error: stack,
        keepEnvelope: true,
      })
      .catch((err: unknown) => this.logger.error({ err, jobId: id }, 'job index write failed'));
    const def = this.registry.get(env.name);
    const steps: [string, () => Promise<unknown>][] = [
      [
        'failed store',
        async () =>
          this.failedSink?.record({
            id,
            queue,
            name: env.name,
            organizationId: env.org ?? null,
            batchId: env.batch ?? null,
            payload: env.payload,
            envelope: env,
            error: stack,
            attempts: env.attempts,
            failedAt: new Date(now),
          }),
      ],
      [
        'failed() hook',
        async () => {
          if (!def?.failed) return;
          const payload = def.payload.safeParse(env.payload);
          await withDbScope(this.em, env.org, (em) =>
            def.failed!(
              payload.success ? payload.data : env.payload,
              { id, name: env.name, queue, organizationId: env.org, attempts: env.attempts, error: message },
              { em, logger: this.logger, services: this.services },
            ),
          );
        },
      ],
      [
        'batch',
        async () => {
          if (!env.batch) return;
          const r = (await scripts.batchFailure(
            this.redis,
            [this.keys.batch(env.batch), this.keys.batchFailed(env.batch)],
            [id, now, JSON.stringify({ queue, env })],
          )) as number[];
          if (r[1]) await this.batchCallback(env.batch, 'catch', { id, name: env.name, error: message });
          if (r[2]) await this.batchCallback(env.batch, 'finally');
        },
      ],
      [
        'chain',
        async () => {
          if (!env.chain?.catch) return;
          await this.dispatchCallback(`chain:${env.chain.id}:catch`, env.chain.catch, env.org ?? null, {
            kind: 'chain-catch',
            chainId: env.chain.id,
            failedJob: { id, name: env.name, error: message },
          });
        },
      ],
    ];
    for (const [what, step] of steps) {
      await step().catch((err: unknown) =>
        this.logger.error({ err, jobId: id, what }, 'job failure handling failed'),
      );
    }
  }

  private async batchCallback(
    batchId: string,
    kind: 'then' | 'catch' | 'finally',
    failedJob?: CallbackEvent['failedJob'],
  ): Promise<void> {
    const [name, org] = await this.redis.hmget(this.keys.batch(batchId), kind, 'org');
    if (!name) return;
    await this.dispatchCallback(`batch:${batchId}:${kind}`, name, org || null, {
      kind,
      batchId,
      ...(failedJob ? { failedJob } : {}),
    });
  }

  /** Callbacks run as jobs (with retries) under a deterministic id, so each one is queued at most once. */
  private async dispatchCallback(id: string, callback: string, org: string | null, event: CallbackEvent) {
    const def = this.definition(CALLBACK_JOB);
    const now = Date.now();
    const env: Envelope = {
      v: 1,
      name: CALLBACK_JOB,
      payload: { callback, event },
      ...(org ? { org } : {}),
      trace: traceparentFor(undefined),
      at: now,
      qa: now,
      attempts: 0,
      exceptions: 0,
    };
    await this.save([{ id, queue: def.queue, env, delayUntil: null, def }]);
  }

  /** The without-overlapping lock a job of `def` with this (parsed) payload takes, if any. */
  overlapKey(def: AnyJobDefinition, payload: unknown): string {
    if (!def.withoutOverlapping) throw new Error(`${def.name} has no withoutOverlapping policy`);
    return this.keys.overlap(def.name, def.withoutOverlapping.key(payload));
  }

  /**
   * Releases the locks a job's attempt holds while it runs (without-overlapping), when the stall checker has found
   * its worker dead: otherwise they would last until their TTL (the job's timeout), refusing the job's own retry
   * and every other job of the same key meanwhile. Compare-and-delete: a lock someone else took since is kept.
   */
  async releaseLocksOf(id: string, env: Envelope): Promise<boolean> {
    const def = this.registry.get(env.name);
    if (!def?.withoutOverlapping) return false;
    const payload = def.payload.safeParse(env.payload);
    if (!payload.success) return false;
    const key = this.overlapKey(def, payload.data);
    return Number(await scripts.delIfEq(this.redis, [key], [id])) === 1;
  }

  /** ms until the job may run under its rate limit (0 = now). */
  async rateLimitWait(def: AnyJobDefinition, payload: unknown): Promise<number> {
    const policy = def.rateLimit;
    if (!policy) return 0;
    const bucket = policy.key ? policy.key(payload) : '_';
    const id = `${def.name}|${policy.limit}|${policy.perSeconds}`;
    let limiter = this.limiters.get(id);
    if (!limiter) {
      limiter = new RateLimiterRedis({
        storeClient: this.redis,
        keyPrefix: this.keys.rateLimit(def.name),
        points: policy.limit,
        duration: policy.perSeconds,
      });
      this.limiters.set(id, limiter);
    }
    try {
      await limiter.consume(bucket, 1);
      return 0;
    } catch (res) {
      if (res instanceof RateLimiterRes) return Math.max(1, res.msBeforeNext);
      throw res;
    }
  }

  // ------------------------------------------------------------------------------------------------- batches

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

  async isBatchCancelled(id: string): Promise<boolean> {
    return (await this.redis.hexists(this.keys.batch(id), 'cancelledAt')) === 1;
  }

  async cancelBatch(id: string): Promise<BatchInfo> {
    const ok = await this.redis.exists(this.keys.batch(id));
    if (!ok) throw new AppError('NOT_FOUND', `No batch ${id}`);
    await this.redis.hsetnx(this.keys.batch(id), 'cancelledAt', Date.now());
    return (await this.getBatch(id))!;
  }

  /** Runs the batch's failed jobs again (same ids); they count as pending until they finish. */
  async retryBatchFailures(id: string): Promise<string[]> {
    if (!(await this.redis.exists(this.keys.batch(id)))) throw new AppError('NOT_FOUND', `No batch ${id}`);
    const flat = (await scripts.batchTakeFailed(
      this.redis,
      [this.keys.batch(id), this.keys.batchFailed(id)],
      [],
    )) as string[];
    const ids: string[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const jobId = flat[i]!;
      const { queue, env } = JSON.parse(flat[i + 1]!) as { queue: QueueName; env: Envelope };
      await this.redispatch(jobId, queue, env);
      ids.push(jobId);
    }
    if (ids.length) await this.failedSink?.forget(ids);
    return ids;
  }

  // ---------------------------------------------------------------------------------------- state and control

  async counts(): Promise<QueueCounts[]> {
    const p = this.redis.pipeline();
    for (const q of QUEUE_NAMES) {
      p.llen(this.keys.beeKey(q, 'waiting'));
      p.llen(this.keys.beeKey(q, 'active'));
      p.zcard(this.keys.beeKey(q, 'delayed'));
    }
    p.smembers(this.keys.paused());
    const res = ((await p.exec()) ?? []).map(([, v]) => v);
    const paused = new Set((res[res.length - 1] as string[] | undefined) ?? []);
    return QUEUE_NAMES.map((queue, i) => ({
      queue,
      waiting: Number(res[i * 3]),
      active: Number(res[i * 3 + 1]),
      delayed: Number(res[i * 3 + 2]),
      paused: paused.has(queue),
    }));
  }

  /** Whether the queue still has the job (waiting, delayed, active or being retried): bee's job hash holds it. */
  async hasJob(queue: string, id: string): Promise<boolean> {
    return (await this.redis.hexists(this.keys.beeKey(queue, 'jobs'), id)) === 1;
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

  async workers(): Promise<WorkerInfo[]> {
    const staleBefore = Date.now() - this.settings.heartbeatMs * 4;
    const ids = await this.redis.zrangebyscore(this.keys.workersSeen(), staleBefore, '+inf');
    if (!ids.length) return [];
    const raw = await this.redis.hmget(this.keys.workers(), ...ids);
    return raw.filter((r): r is string => !!r).map((r) => JSON.parse(r) as WorkerInfo);
  }

  /** Flushes buffered metrics and closes bee-queue producers (not the shared ioredis connection). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.metrics.flush();
    await Promise.all([...this.producers.values()].map((b) => b.close(1_000).catch(() => undefined)));
    this.producers.clear();
  }
}

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
