import { withLazyDbScope } from '../db/context.ts';
import { withJobReadRouting } from '../db/replicas/read-your-writes.ts';
import { scrubString } from '../errors/scrub.ts';
import { withLogBindings, type LogBindings } from '../logger/logger.ts';
import { inSpan } from '../tracing/propagation.ts';
import type { BeeJob, JobOutcome } from './bee.ts';
import { backoffDelay, type AnyJobDefinition, type JobContext, type QueueName } from './definition.ts';
import { traceIdOf, type Envelope } from './envelope.ts';
import type { IndexRecord } from './job-index.ts';
import { scripts } from './scripts.ts';
import { JobTimeoutError, type QueueSystem } from './system.ts';

/** Thrown by ctx.release() and by the rate-limit / overlap checks: back on the queue, no exception counted. */
export class ReleaseJob extends Error {
  constructor(readonly delayMs: number) {
    super(`Released for ${delayMs} ms`);
    this.name = 'ReleaseJob';
  }
}

export class ShutdownAbort extends Error {
  constructor() {
    super('Worker shutting down');
    this.name = 'ShutdownAbort';
  }
}

/**
 * A failure that retrying cannot fix (unknown job, payload that no longer parses, input a handler finds it can
 * never process): the job fails at once, its `failed` callback runs, and no retry is scheduled. Handlers throw it.
 */
export class PermanentFailure extends Error {
  override name = 'PermanentFailure';
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
    private readonly system: QueueSystem,
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
  async execute(job: BeeJob, queue: QueueName): Promise<JobOutcome> {
    const env = job.data as Envelope;
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
        this.system.logger.info({ ...line, status: 'completed' }, 'job');
      } else if (outcome.kind === 'failed') {
        this.system.logger.error({ ...line, status: 'failed', err: error }, 'job');
      } else if (error instanceof ReleaseJob) {
        this.system.logger.info({ ...line, status: 'released' }, 'job');
      } else if (error instanceof ShutdownAbort) {
        this.system.logger.info({ ...line, status: 'returned', err: error }, 'job');
      } else {
        this.system.logger.warn({ ...line, status: 'retrying', err: error }, 'job');
      }
      return outcome;
    });
  }

  private async attempt(
    job: BeeJob,
    queue: QueueName,
    env: Envelope,
  ): Promise<{ outcome: JobOutcome; error?: Error }> {
    const { system } = this;
    const startedAt = Date.now();
    const waitMs = startedAt - env.qa;
    const controller = new AbortController();
    const def = system.registry.get(env.name);
    this.running.set(job.id, { id: job.id, name: env.name, queue, startedAt, controller });
    let overlapKey: string | undefined;
    try {
      if (!def)
        throw new PermanentFailure(`Unknown job "${env.name}": no definition registered on this worker`);
      if (env.batch && (await system.isBatchCancelled(env.batch))) {
        return { outcome: await this.finish(job.id, queue, env, 'cancelled', startedAt, waitMs) };
      }
      env.attempts += 1;
      const parsed = def.payload.safeParse(env.payload);
      if (!parsed.success)
        throw new PermanentFailure(`Payload no longer matches "${env.name}": ${parsed.error.message}`);
      const wait = await system.rateLimitWait(def, parsed.data);
      if (wait > 0) throw new ReleaseJob(wait);
      if (def.withoutOverlapping) {
        overlapKey = system.overlapKey(def, parsed.data);
        const ttl = def.withoutOverlapping.expiresAfterMs ?? def.timeoutMs + 10_000;
        // Held by this job id already: an earlier attempt whose worker died (kill -9) and which the stall checker
        // returned to the queue. Taking it over is safe: one job id never runs twice at once.
        if (Number(await scripts.lockTake(system.redis, [overlapKey], [job.id, ttl])) !== 1) {
          throw new ReleaseJob(def.withoutOverlapping.releaseAfterMs ?? 1_000);
        }
      }
      await withJobReadRouting(env.rp, () =>
        this.runHandler(def, parsed.data, env, job.id, queue, controller),
      );
      return { outcome: await this.finish(job.id, queue, env, 'completed', startedAt, waitMs) };
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      const delayMs = await this.decide(job.id, queue, env, def, error, startedAt, waitMs, controller);
      return { outcome: delayMs < 0 ? { kind: 'failed' } : { kind: 'retry', delayMs }, error };
    } finally {
      this.running.delete(job.id);
      // Whatever this job id holds goes when the attempt ends (compare-and-delete: another job's lock stays).
      if (overlapKey) await scripts.delIfEq(system.redis, [overlapKey], [job.id]).catch(() => undefined);
    }
  }

  private async runHandler(
    def: AnyJobDefinition,
    payload: unknown,
    env: Envelope,
    id: string,
    queue: QueueName,
    controller: AbortController,
  ): Promise<unknown> {
    const { system } = this;
    const timer = setTimeout(() => controller.abort(new JobTimeoutError(def.timeoutMs)), def.timeoutMs);
    const aborted = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason as Error), {
        once: true,
      });
    });
    let logger: JobContext['logger'] | undefined;
    const handler = withLazyDbScope(system.em, env.org, (scope) => {
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
          return (logger ??= system.logger.child({ job: env.name, jobId: id }));
        },
        config: system.config,
        redis: system.redis,
        services: system.services,
        release(delayMs = 0): never {
          throw new ReleaseJob(delayMs);
        },
        dispatch: (job, jobPayload, opts) =>
          system.dispatch(job, jobPayload as never, {
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
    const { system } = this;
    const finishedAt = Date.now();
    const index: IndexRecord = system.index.outcome(id, queue, env, {
      status,
      startedAt,
      finishedAt,
      worker: this.workerId,
    });
    system.metrics.record(queue, env.name, true, waitMs, finishedAt - startedAt, finishedAt);
    this.processed += 1;
    this.observer?.count('jobs.processed');
    this.observer?.observe('jobs.wait', waitMs);
    this.observer?.observe('jobs.runtime', finishedAt - startedAt);
    if (!env.chain && !env.batch) return { kind: 'completed', index };
    await system.index.write(index);
    await system.afterSuccess(id, env);
    return { kind: 'completed' };
  }

  /** What happens after a failed or released attempt: ms until the next one, or -1 when the job has failed. */
  private async decide(
    id: string,
    queue: QueueName,
    env: Envelope,
    def: AnyJobDefinition | undefined,
    error: Error,
    startedAt: number,
    waitMs: number,
    controller: AbortController,
  ): Promise<number> {
    const { system } = this;
    const now = Date.now();
    const reason: unknown = controller.signal.reason;
    if (reason instanceof ShutdownAbort) {
      // Not the job's fault: it goes back as if never taken.
      env.attempts = Math.max(0, env.attempts - 1);
      env.qa = now;
      await this.writeAttempt(id, queue, env, 'queued', startedAt, now, undefined, now);
      return 0;
    }
    const released = error instanceof ReleaseJob;
    if (!released) {
      env.exceptions += 1;
      system.metrics.record(queue, env.name, false, waitMs, now - startedAt, now);
      this.observer?.observe('jobs.wait', waitMs);
      this.observer?.observe('jobs.runtime', now - startedAt);
    }
    const delay = released ? (error as ReleaseJob).delayMs : backoffDelay(def?.backoff, env.attempts);
    const exhausted =
      !def ||
      error instanceof PermanentFailure ||
      (def.tries > 0 && env.attempts >= def.tries) ||
      (def.maxExceptions !== undefined && env.exceptions >= def.maxExceptions) ||
      (def.retryUntilMs !== undefined && now + delay > env.at + def.retryUntilMs);
    if (exhausted) {
      this.failed += 1;
      // Jobs that failed for good (the `jobs-failed-spike` alert), not attempts that will be retried.
      this.observer?.count('jobs.failed');
      const finalError =
        released && def
          ? new Error(`${env.name} was attempted ${env.attempts} times (the last attempt was released)`)
          : error;
      await system.failFinally(id, queue, env, finalError, { startedAt, worker: this.workerId });
      return -1;
    }
    env.qa = now + delay;
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
    return delay;
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
    await this.system.index
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
