import type { Redis } from 'ioredis';
import type { z } from 'zod';
import { AppError } from '../../../shared/errors.ts';
import type { Config } from '../../config/env.ts';
import { withDbScope, type Em } from '../db/context.ts';
import type { Logger } from '../logger/logger.ts';
import { QueueAdmin, type BatchInfo, type QueueCounts } from './admin.ts';
import type { AnyJobDefinition, JobDefinition, QueueName } from './definition.ts';
import type { OrganizationTier } from '../../../shared/schemas/tenancy.ts';
import { capOf, organizationLoad, writeTiers, type OrganizationLoad } from './fairness.ts';
import { Dispatcher, type DispatchOptions, type DispatchResult, type JobSpec } from './dispatcher.ts';
import type { Envelope } from './envelope.ts';
import { FailureHandling, type FailedJobSink, type FailureListener } from './failure.ts';
import { Flows, type BatchOptions } from './flows.ts';
import { JobIndex } from './job-index.ts';
import { QueueKeys } from './keys.ts';
import { JobLimits } from './limits.ts';
import { QueueMetrics } from './metrics.ts';
import type { JobRegistry } from './registry.ts';
import { defineScripts } from './scripts.ts';
import type { QueueSettings } from './settings.ts';
import { WorkerRegistry, type WorkerInfo } from './worker-registry.ts';

// The types callers name through the facade.
export type { BatchInfo, QueueCounts } from './admin.ts';
export type { DispatchOptions, DispatchResult, JobSpec } from './dispatcher.ts';
export type { FailedJobRecord, FailedJobSink } from './failure.ts';
export type { BatchOptions } from './flows.ts';
export type { OrganizationLoad } from './fairness.ts';
export type { WorkerInfo } from './worker-registry.ts';

export interface QueueSystemOptions {
  config: Config;
  /** The queue role's connection: the queues themselves (store.ts), the index, metrics, locks and flows. */
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
 * Keel's job system, the facade the rest of the app uses. Each purpose has its own part: dispatch and envelopes
 * (dispatcher.ts), chains, batches and callbacks (flows.ts), what happens to a job that will not run again
 * (failure.ts, listeners in order), rate and overlap limits (limits.ts), the operators' reads and controls
 * (admin.ts), the worker registry (worker-registry.ts), the job index and metrics. Workers (worker.ts) and their
 * runner (runner.ts) are built on the parts, through narrow interfaces this class satisfies.
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
  readonly dispatcher: Dispatcher;
  readonly flows: Flows;
  readonly failures: FailureHandling;
  readonly limits: JobLimits;
  readonly admin: QueueAdmin;
  readonly workerRegistry: WorkerRegistry;
  failedSink: FailedJobSink | undefined;
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
    this.index = new JobIndex(this.redis, this.keys, this.settings.retention, (name) =>
      this.registry.get(name),
    );
    this.metrics = new QueueMetrics(this.redis, this.keys, this.settings.retention.metricsMs, this.logger);
    defineScripts(this.redis);
    const { redis, keys, index, registry, settings, em } = this;
    this.dispatcher = new Dispatcher({ redis, keys, index, registry, settings, em });
    this.flows = new Flows({
      redis,
      keys,
      settings,
      dispatcher: this.dispatcher,
      failedSink: () => this.failedSink,
    });
    this.limits = new JobLimits(redis, keys, registry, settings.stall.intervalMs, this.logger);
    this.admin = new QueueAdmin(redis, keys, settings);
    this.workerRegistry = new WorkerRegistry(redis, keys, settings.heartbeatMs);
    this.failures = new FailureHandling(
      [
        this.indexListener(),
        this.failedStoreListener(),
        this.failedHookListener(),
        this.flows.batchListener,
        this.flows.chainListener,
      ],
      (name) => registry.get(name),
      this.logger,
    );
  }

  // ---------------------------------------------------------------------------------------------- dispatch

  dispatch<D extends AnyJobDefinition>(
    job: D | string,
    payload: D extends JobDefinition<infer S> ? z.input<S> : unknown,
    opts: DispatchOptions = {},
  ): Promise<DispatchResult> {
    return this.dispatcher.dispatch(job, payload, opts);
  }

  dispatchMany(specs: JobSpec[], opts: DispatchOptions = {}): Promise<string[]> {
    return this.dispatcher.dispatchMany(specs, opts);
  }

  chain(
    steps: JobSpec[],
    opts: DispatchOptions & { catch?: string } = {},
  ): Promise<{ chainId: string; firstJobId: string }> {
    return this.flows.chain(steps, opts);
  }

  batch(specs: JobSpec[], opts: BatchOptions = {}): Promise<{ id: string; total: number; jobIds: string[] }> {
    return this.flows.batch(specs, opts);
  }

  redispatch(id: string, queue: QueueName, env: Envelope): Promise<void> {
    return this.dispatcher.redispatch(id, queue, env);
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

  // ------------------------------------------------------------------------------ batches, state and control

  getBatch(id: string): Promise<BatchInfo | null> {
    return this.admin.getBatch(id);
  }

  listBatches(offset: number, limit: number): Promise<{ total: number; items: BatchInfo[] }> {
    return this.admin.listBatches(offset, limit);
  }

  async cancelBatch(id: string): Promise<BatchInfo> {
    await this.flows.cancelBatch(id);
    return (await this.admin.getBatch(id))!;
  }

  retryBatchFailures(id: string): Promise<string[]> {
    return this.flows.retryBatchFailures(id);
  }

  counts(): Promise<QueueCounts[]> {
    return this.admin.counts();
  }

  hasJob(queue: string, id: string): Promise<boolean> {
    return this.admin.hasJob(queue, id);
  }

  pause(queue: QueueName): Promise<void> {
    return this.admin.pause(queue);
  }

  resume(queue: QueueName): Promise<void> {
    return this.admin.resume(queue);
  }

  terminateWorkers(): Promise<number> {
    return this.admin.terminateWorkers();
  }

  workers(): Promise<WorkerInfo[]> {
    return this.workerRegistry.list();
  }

  // ------------------------------------------------------------------------- fairness between organizations

  /** Waiting jobs and running slots per organization in one queue, the busiest first (ADR 0024). */
  organizationLoad(queue: QueueName, limit = 100): Promise<OrganizationLoad[]> {
    const f = this.settings.fairness;
    return organizationLoad(this.redis, this.keys.store(queue), (tier) => capOf(f, tier, queue), limit);
  }

  /** Replaces the plan tiers the queues' takes read (every organization not listed is `free`). */
  setOrganizationTiers(tiers: Iterable<[string, OrganizationTier]>): Promise<number> {
    return writeTiers(this.redis, this.keys, tiers);
  }

  /** Flushes buffered metrics and refuses further dispatches (the shared ioredis connection stays open). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.dispatcher.close();
    await this.metrics.flush();
  }

  // ------------------------------------------------------------------------------ failure listeners, in order

  private indexListener(): FailureListener {
    return {
      name: 'index',
      failed: async (f) => {
        await this.index.finished(f.id, f.queue, f.env, {
          status: 'failed',
          startedAt: f.startedAt,
          finishedAt: f.failedAt,
          worker: f.worker,
          error: f.stack,
          keepEnvelope: true,
        });
      },
    };
  }

  private failedStoreListener(): FailureListener {
    return {
      name: 'failed store',
      failed: async (f) => {
        await this.failedSink?.record({
          id: f.id,
          queue: f.queue,
          name: f.env.name,
          organizationId: f.env.org ?? null,
          batchId: f.env.batch ?? null,
          payload: f.env.payload,
          envelope: f.env,
          error: f.stack,
          attempts: f.env.attempts,
          failedAt: new Date(f.failedAt),
        });
      },
    };
  }

  private failedHookListener(): FailureListener {
    return {
      name: 'failed() hook',
      failed: async ({ def, env, id, queue, message }) => {
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
    };
  }
}
