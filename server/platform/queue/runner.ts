import type { Redis } from 'ioredis';
import type { Config } from '../../config/env.ts';
import { withLazyDbScope, type Em } from '../db/context.ts';
import { withJobReadRouting } from '../db/replicas/read-your-writes.ts';
import { scrubString } from '../errors/scrub.ts';
import { withLogBindings, type LogBindings, type Logger } from '../logger/logger.ts';
import { inSpan } from '../tracing/propagation.ts';
import type { JobOutcome } from './consumer.ts';
import type { AnyJobDefinition, JobContext, QueueName } from './definition.ts';
import type { Dispatcher } from './dispatcher.ts';
import { traceIdOf, type Envelope } from './envelope.ts';
import {
  decide,
  JobTimeoutError,
  PermanentFailure,
  ReleaseJob,
  ShutdownAbort,
  type FailureHandling,
} from './failure.ts';
import type { Flows } from './flows.ts';
import type { IndexRecord, JobIndex } from './job-index.ts';
import { overlapHolder, type JobLimits } from './limits.ts';
import type { QueueMetrics } from './metrics.ts';
import type { JobRegistry } from './registry.ts';
import { redactError, redactingLogger, sensitiveValues } from './sensitive.ts';
import type { StoredJob } from './store.ts';

const noop = (): void => undefined;

/** What the runner needs of the queue system: the parts it calls and what a handler's context carries. */
export interface RunnerDeps {
  readonly registry: Pick<JobRegistry, 'get'>;
  readonly index: Pick<JobIndex, 'outcome' | 'write' | 'finished'>;
  readonly metrics: Pick<QueueMetrics, 'record'>;
  readonly limits: Pick<JobLimits, 'rateLimitWait' | 'overlapKey' | 'takeOverlap' | 'releaseOverlap'>;
  readonly flows: Pick<Flows, 'isBatchCancelled' | 'succeeded'>;
  readonly failures: Pick<FailureHandling, 'fail'>;
  /** A handler's follow-up jobs (`ctx.dispatch`). */
  readonly dispatcher: Pick<Dispatcher, 'dispatch'>;
  readonly logger: Logger;
  readonly config: Config;
  readonly redis: Redis;
  readonly em: Em;
  readonly services: unknown;
}

/** Where a worker reports jobs to the metrics console (`deps.observability.console`). */
export interface QueueObserver {
  count(metric: string, n?: number): void;
  gauge(metric: string, value: number): void;
  observe(metric: string, ms: number): void;
}

export interface RunningJob {
  id: string;
  name: string;
  queue: QueueName;
  startedAt: number;
  controller: AbortController;
}

/**
 * Runs one attempt of a job for a queue consumer: tenant scope, AbortSignal timeout, rate limit and overlap
 * middleware, then decides what happens next (done, again after a delay, or failed for good).
 */
export class JobRunner {
  readonly running = new Map<string, RunningJob>();
  processed = 0;
  failed = 0;

  constructor(
    private readonly deps: RunnerDeps,
    readonly workerId: string,
    private readonly observer?: QueueObserver,
  ) {}

  /** Aborts every running handler; their jobs go back to the queue without an attempt counted. */
  abortAll(): void {
    for (const r of this.running.values()) r.controller.abort(new ShutdownAbort());
  }

  /**
   * One attempt, logged as one `job` line. Every line written meanwhile (the runner's, the handler's) carries the
   * dispatcher's trace id as `traceId` (the logger's mixin puts the consumer span's there when tracing is on: the
   * same id) and as `requestId`, and the job's organization as `tenantId`.
   */
  async execute(job: StoredJob, queue: QueueName): Promise<JobOutcome> {
    const env = job.data;
    const traceId = traceIdOf(env.trace);
    const bindings: LogBindings = {
      requestId: traceId,
      traceId,
      ...(env.org ? { tenantId: env.org } : {}),
    };
    return withLogBindings(bindings, async () => {
      const startedAt = Date.now();
      const { outcome, error } = await this.attempt(job, queue, env);
      const line = {
        job: env.name,
        jobId: job.id,
        queue,
        attempt: env.attempts,
        ms: Date.now() - startedAt,
      };
      if (outcome.kind === 'completed') {
        this.deps.logger.info({ ...line, status: 'completed' }, 'job');
      } else if (outcome.kind === 'failed') {
        this.deps.logger.error({ ...line, status: 'failed', err: error }, 'job');
      } else if (error instanceof ReleaseJob) {
        this.deps.logger.info({ ...line, status: 'released' }, 'job');
      } else if (error instanceof ShutdownAbort) {
        this.deps.logger.info({ ...line, status: 'returned', err: error }, 'job');
      } else {
        this.deps.logger.warn({ ...line, status: 'retrying', err: error }, 'job');
      }
      return outcome;
    });
  }

  private async attempt(
    job: StoredJob,
    queue: QueueName,
    env: Envelope,
  ): Promise<{ outcome: JobOutcome; error?: Error }> {
    const { deps } = this;
    const startedAt = Date.now();
    const waitMs = startedAt - env.qa;
    const controller = new AbortController();
    const def = deps.registry.get(env.name);
    this.running.set(job.id, { id: job.id, name: env.name, queue, startedAt, controller });
    let overlap: { key: string; holder: string } | undefined;
    let handlerSettled: Promise<void> | undefined;
    try {
      if (!def)
        throw new PermanentFailure(`Unknown job "${env.name}": no definition registered on this worker`);
      if (env.batch && (await deps.flows.isBatchCancelled(env.batch))) {
        return { outcome: await this.finish(job.id, queue, env, 'cancelled', startedAt, waitMs) };
      }
      env.attempts += 1;
      const parsed = def.payload.safeParse(env.payload);
      if (!parsed.success)
        throw new PermanentFailure(`Payload no longer matches "${env.name}": ${parsed.error.message}`);
      const wait = await deps.limits.rateLimitWait(def, parsed.data);
      if (wait > 0) throw new ReleaseJob(wait);
      if (def.withoutOverlapping) {
        const key = deps.limits.overlapKey(def, parsed.data);
        const holder = overlapHolder(job.id, env.attempts);
        if (!(await deps.limits.takeOverlap(key, holder))) {
          throw new ReleaseJob(def.withoutOverlapping.releaseAfterMs ?? 1_000);
        }
        overlap = { key, holder };
      }
      // Reads go to a replica only once it has replayed what the dispatcher wrote (ADR 0013).
      await withJobReadRouting(env.rp, () =>
        this.runHandler(def, parsed.data, env, job.id, queue, controller, (settled) => {
          handlerSettled = settled;
        }),
      );
      return { outcome: await this.finish(job.id, queue, env, 'completed', startedAt, waitMs) };
    } catch (err) {
      // Before it is logged, indexed or stored: an error often quotes the payload (ADR 0026).
      const error = redactError(
        err instanceof Error ? err : new Error(String(err)),
        sensitiveValues(def, env.payload),
      );
      const delayMs = await this.afterFailure(job.id, queue, env, def, error, startedAt, waitMs, controller);
      return { outcome: delayMs < 0 ? { kind: 'failed' } : { kind: 'retry', delayMs }, error };
    } finally {
      this.running.delete(job.id);
      if (overlap) {
        const { key, holder } = overlap;
        const release = () => deps.limits.releaseOverlap(key, holder).then(noop, noop);
        // A handler abandoned at its timeout or a shutdown may still be running: its key stays taken, and renewed,
        // until it returns (or its process exits), so no other job of the key overlaps it, nor, after a timeout, this
        // job's next attempt (a shutdown's hand-back reruns the same attempt, which may take the lock over).
        if (handlerSettled && controller.signal.aborted) void handlerSettled.then(release);
        else await release();
      }
    }
  }

  private async runHandler(
    def: AnyJobDefinition,
    payload: unknown,
    env: Envelope,
    id: string,
    queue: QueueName,
    controller: AbortController,
    onStarted: (settled: Promise<void>) => void,
  ): Promise<unknown> {
    const { deps } = this;
    const timer = setTimeout(() => controller.abort(new JobTimeoutError(def.timeoutMs)), def.timeoutMs);
    const aborted = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason as Error), {
        once: true,
      });
    });
    let logger: JobContext['logger'] | undefined;
    const handler = withLazyDbScope(deps.em, env.org, (scope) => {
      const ctx: JobContext = {
        id,
        name: env.name,
        queue,
        attempt: env.attempts,
        organizationId: env.org,
        traceparent: env.trace,
        batchId: env.batch,
        signal: controller.signal,
        get em() {
          return scope.em;
        },
        get logger() {
          return (logger ??= redactingLogger(
            deps.logger.child({ job: env.name, jobId: id }),
            sensitiveValues(def, env.payload),
          ));
        },
        config: deps.config,
        redis: deps.redis,
        services: deps.services,
        release(delayMs = 0): never {
          throw new ReleaseJob(delayMs);
        },
        dispatch: (job, jobPayload, opts) =>
          deps.dispatcher.dispatch(job, jobPayload as never, {
            organizationId: opts?.organizationId !== undefined ? opts.organizationId : (env.org ?? null),
            traceparent: env.trace,
            ...(opts?.delayMs ? { delayMs: opts.delayMs } : {}),
          }),
      };
      // A consumer span continuing the dispatcher's trace (a no-op when tracing is off).
      return inSpan(
        `job ${env.name}`,
        'consumer',
        { traceparent: env.trace },
        async () => def.handle(payload, ctx),
        {
          'messaging.system': 'bee-queue',
          'messaging.destination.name': queue,
          'messaging.message.id': id,
          'keel.job.attempt': env.attempts,
        },
      );
    });
    // An abandoned handler may still reject later; it must not become an unhandled rejection.
    handler.catch(() => undefined);
    aborted.catch(() => undefined);
    onStarted(handler.then(noop, noop));
    try {
      return await Promise.race([handler, aborted]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Bookkeeping of a successful (or skipped) attempt. The index record goes out with the job's finish (one script
   * call), except for chain and batch steps, whose bookkeeping must see it first.
   */
  private async finish(
    id: string,
    queue: QueueName,
    env: Envelope,
    status: 'completed' | 'cancelled',
    startedAt: number,
    waitMs: number,
  ): Promise<JobOutcome> {
    const { deps } = this;
    const finishedAt = Date.now();
    const index: IndexRecord = deps.index.outcome(id, queue, env, {
      status,
      startedAt,
      finishedAt,
      worker: this.workerId,
    });
    deps.metrics.record(queue, env.name, true, waitMs, finishedAt - startedAt, finishedAt);
    this.processed += 1;
    this.observer?.count('jobs.processed');
    this.observer?.observe('jobs.wait', waitMs);
    this.observer?.observe('jobs.runtime', finishedAt - startedAt);
    if (!env.chain && !env.batch) return { kind: 'completed', index };
    await deps.index.write(index);
    await deps.flows.succeeded(id, env);
    return { kind: 'completed' };
  }

  /**
   * Bookkeeping of an attempt that did not succeed, as `decide` (failure.ts) rules: ms until the next attempt, or -1
   * when the job has failed for good.
   */
  private async afterFailure(
    id: string,
    queue: QueueName,
    env: Envelope,
    def: AnyJobDefinition | undefined,
    error: Error,
    startedAt: number,
    waitMs: number,
    controller: AbortController,
  ): Promise<number> {
    const { deps } = this;
    const now = Date.now();
    const decision = decide(def, env, error, controller.signal.reason instanceof ShutdownAbort, now);
    if (decision.kind === 'return') {
      env.attempts = Math.max(0, env.attempts - 1);
      env.qa = now;
      await this.writeAttempt(id, queue, env, 'queued', startedAt, now, undefined, now);
      return 0;
    }
    const released = decision.kind === 'retry' ? decision.released : error instanceof ReleaseJob;
    if (!released) {
      deps.metrics.record(queue, env.name, false, waitMs, now - startedAt, now);
      this.observer?.observe('jobs.wait', waitMs);
      this.observer?.observe('jobs.runtime', now - startedAt);
    }
    if (decision.kind === 'fail') {
      this.failed += 1;
      // Jobs that failed for good (the `jobs-failed-spike` alert), not attempts that will be retried.
      this.observer?.count('jobs.failed');
      await deps.failures.fail(id, queue, env, decision.error, { startedAt, worker: this.workerId });
      return -1;
    }
    env.qa = now + decision.delayMs;
    await this.writeAttempt(
      id,
      queue,
      env,
      released ? 'released' : 'retrying',
      startedAt,
      now,
      released ? undefined : error,
      env.qa,
    );
    return decision.delayMs;
  }

  private async writeAttempt(
    id: string,
    queue: QueueName,
    env: Envelope,
    status: 'queued' | 'released' | 'retrying',
    startedAt: number,
    finishedAt: number,
    error: Error | undefined,
    nextAt: number,
  ): Promise<void> {
    await this.deps.index
      .finished(id, queue, env, {
        status,
        startedAt,
        finishedAt,
        worker: this.workerId,
        // Scrubbed as the logs are (the index keeps it for the console).
        ...(error ? { error: scrubString(error.stack ?? error.message) } : {}),
        nextAt,
      })
      .catch(() => undefined);
  }
}
