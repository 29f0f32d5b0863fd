import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { z } from 'zod';
import { AppError } from '../../../shared/errors.ts';
import { currentOrganizationId, type Em } from '../db/context.ts';
import { readPositionForJob } from '../db/replicas/read-your-writes.ts';
import { currentTraceCarrier } from '../tracing/propagation.ts';
import { isQueueName, type AnyJobDefinition, type JobDefinition, type QueueName } from './definition.ts';
import { againEnvelope, newEnvelope, traceparentFor, type Envelope } from './envelope.ts';
import type { JobIndex } from './job-index.ts';
import type { QueueKeys } from './keys.ts';
import type { JobRegistry } from './registry.ts';
import { loadScripts, scripts } from './scripts.ts';
import type { QueueSettings } from './settings.ts';
import { saveJobs } from './store.ts';

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

/** A job validated and enveloped, ready to save. */
export interface Prepared {
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

export interface DispatcherDeps {
  redis: Redis;
  keys: QueueKeys;
  index: JobIndex;
  registry: JobRegistry;
  settings: QueueSettings;
  /** For the dispatcher's WAL position (read-your-writes through replicas, ADR 0013). */
  em: Em;
}

/**
 * The producer side: validates jobs against their definitions, builds their envelopes (envelope.ts) and saves them
 * into their queues (store.ts). Flows (chains, batches, callbacks) queue their jobs through it too.
 */
export class Dispatcher {
  private closed = false;
  /** Scripts loaded before the first save (retried after a failure). */
  private scriptsLoaded: Promise<void> | null = null;

  constructor(private readonly deps: DispatcherDeps) {}

  /** Validates and queues one job. A unique job already pending is not queued again: the result says so. */
  async dispatch<D extends AnyJobDefinition>(
    job: D | string,
    payload: D extends JobDefinition<infer S> ? z.input<S> : unknown,
    opts: DispatchOptions = {},
  ): Promise<DispatchResult> {
    const { redis } = this.deps;
    const prepared = this.prepare(job, payload, opts);
    if (prepared.uniqueKey) {
      const ok = await redis.set(prepared.uniqueKey, prepared.id, 'PX', prepared.uniqueTtl!, 'NX');
      if (!ok) {
        return { dispatched: false, id: await redis.get(prepared.uniqueKey), reason: 'duplicate' };
      }
    }
    try {
      await this.save([prepared]);
    } catch (err) {
      if (prepared.uniqueKey) await scripts.delIfEq(redis, [prepared.uniqueKey], [prepared.id]);
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

  /** Queues a failed job again under its own id, with fresh attempt counters. */
  async redispatch(id: string, queue: QueueName, env: Envelope): Promise<void> {
    const def = this.deps.registry.get(env.name);
    if (!def) throw new AppError('VALIDATION_FAILED', `Unknown job "${env.name}"`);
    await this.deps.redis.hdel(this.deps.keys.stalls(queue), id);
    await this.save([{ id, queue, env: againEnvelope(env), delayUntil: null, def, again: true }]);
  }

  /** The dispatching request's trace (OpenTelemetry's active context) continues in the job; else a new one. */
  activeTraceparent(): string {
    return traceparentFor(currentTraceCarrier().traceparent);
  }

  orgFrom(opts: { organizationId?: string | null }): string | null {
    return opts.organizationId === undefined ? (currentOrganizationId() ?? null) : opts.organizationId;
  }

  requireCallback(name: string): void {
    if (!this.deps.registry.hasCallback(name)) {
      throw new AppError(
        'VALIDATION_FAILED',
        `Unknown callback "${name}": list its defineCallback() with the job definitions`,
      );
    }
  }

  definition(job: AnyJobDefinition | string): AnyJobDefinition {
    const name = typeof job === 'string' ? job : job.name;
    const def = this.deps.registry.get(name);
    if (!def)
      throw new AppError('VALIDATION_FAILED', `Unknown job "${name}"`, {
        fieldErrors: { name: ['is not a registered job'] },
      });
    return def;
  }

  /** Validates a job (definition, payload, size, queue, delay) and builds its envelope under a new id. */
  prepare(
    job: AnyJobDefinition | string,
    payload: unknown,
    opts: DispatchOptions,
    checkUnique = true,
  ): Prepared {
    const { settings, keys } = this.deps;
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
    if (bytes > settings.maxPayloadBytes) {
      throw new AppError(
        'PAYLOAD_TOO_LARGE',
        `Payload of job "${def.name}" is ${bytes} bytes; the limit is ${settings.maxPayloadBytes} (store large data elsewhere and pass its id)`,
      );
    }
    const queue = opts.queue ?? def.queue;
    if (!isQueueName(queue)) throw new AppError('VALIDATION_FAILED', `Unknown queue "${String(queue)}"`);
    const delayMs = opts.delayMs ?? 0;
    if (!Number.isFinite(delayMs) || delayMs < 0)
      throw new AppError('VALIDATION_FAILED', 'delayMs must be ≥ 0');
    const now = Date.now();
    const delayUntil = delayMs > 0 ? now + delayMs : null;
    const unique =
      checkUnique && def.uniqueId
        ? { key: keys.unique(def.name, def.uniqueId(parsed.data)), ttl: def.uniqueForMs ?? 60 * 60_000 }
        : undefined;
    const env = newEnvelope(
      {
        name: def.name,
        payload,
        org: this.orgFrom(opts),
        trace: opts.traceparent ?? this.activeTraceparent(),
        delayUntil,
        tags: [...(def.tags?.(parsed.data) ?? []), ...(opts.tags ?? [])],
        ...(unique ? { unique: unique.key } : {}),
      },
      now,
    );
    return {
      id: randomUUID(),
      queue,
      env,
      delayUntil,
      def,
      ...(unique ? { uniqueKey: unique.key, uniqueTtl: unique.ttl } : {}),
    };
  }

  /**
   * A fresh job needs no index write (its record in the queue describes it until its first outcome); a retried
   * id's last outcome is cleared before the job can run again. One script call per queue.
   */
  async save(prepared: Prepared[]): Promise<void> {
    if (this.closed) throw new AppError('SERVICE_UNAVAILABLE', 'The queue system is closed');
    const { index, redis, keys } = this.deps;
    this.scriptsLoaded ??= loadScripts(redis).catch((err: unknown) => {
      this.scriptsLoaded = null;
      throw err;
    });
    await this.scriptsLoaded;
    // A job never reads older data than its dispatcher wrote: the position travels in the envelope (ADR 0013).
    const rp = await readPositionForJob(this.deps.em);
    if (rp) for (const j of prepared) j.env.rp = rp;
    await Promise.all(prepared.filter((j) => j.again).map((j) => index.requeued(j.id, j.queue, j.env)));
    const byQueue = new Map<QueueName, Prepared[]>();
    for (const j of prepared) {
      const list = byQueue.get(j.queue) ?? [];
      list.push(j);
      byQueue.set(j.queue, list);
    }
    await Promise.all([
      ...[...byQueue].map(([queue, jobs]) =>
        saveJobs(
          redis,
          keys.store(queue),
          jobs.map((j) => ({ id: j.id, env: j.env, delayUntil: j.delayUntil })),
        ),
      ),
      // Search entries (ADR 0026); a retried id got its entries with its requeued record above.
      index.dispatched(prepared.filter((j) => !j.again)),
    ]);
  }

  close(): void {
    this.closed = true;
  }
}
