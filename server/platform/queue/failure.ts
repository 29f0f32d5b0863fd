import { scrubString } from '../errors/scrub.ts';
import type { Logger } from '../logger/logger.ts';
import { backoffDelay, type AnyJobDefinition, type QueueName } from './definition.ts';
import type { Envelope } from './envelope.ts';

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

export class JobTimeoutError extends Error {
  constructor(ms: number) {
    super(`Job timed out after ${ms} ms`);
    this.name = 'JobTimeoutError';
  }
}

/**
 * A failure that retrying cannot fix (unknown job, payload that no longer parses, input a handler finds it can
 * never process): the job fails at once, its `failed` callback runs, and no retry is scheduled. Handlers throw it.
 */
export class PermanentFailure extends Error {
  override name = 'PermanentFailure';
}

/** What follows an attempt that did not succeed. */
export type Decision =
  /** Not the job's fault (its worker is stopping): back on the queue as if never taken. */
  { kind: 'return' } | { kind: 'retry'; delayMs: number; released: boolean } | { kind: 'fail'; error: Error };

/**
 * The one place that decides whether a job runs again: after an attempt that threw, was released, or was cut by a
 * shutdown. Counts the exception on the envelope (a release or a shutdown counts none). A job that stalled too
 * often is failed by the stall checker's script (the count is kept atomically with the requeue) and then handled
 * by `FailureHandling.fail` like any other.
 */
export function decide(
  def: AnyJobDefinition | undefined,
  env: Envelope,
  error: Error,
  shutdown: boolean,
  now = Date.now(),
): Decision {
  if (shutdown) return { kind: 'return' };
  const released = error instanceof ReleaseJob;
  if (!released) env.exceptions += 1;
  const delayMs = released ? error.delayMs : backoffDelay(def?.backoff, env.attempts);
  const exhausted =
    !def ||
    error instanceof PermanentFailure ||
    (def.tries > 0 && env.attempts >= def.tries) ||
    (def.maxExceptions !== undefined && env.exceptions >= def.maxExceptions) ||
    (def.retryUntilMs !== undefined && now + delayMs > env.at + def.retryUntilMs);
  if (!exhausted) return { kind: 'retry', delayMs, released };
  return {
    kind: 'fail',
    error:
      released && def
        ? new Error(`${env.name} was attempted ${env.attempts} times (the last attempt was released)`)
        : error,
  };
}

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

/** A job that will not run again, as every failure listener sees it. */
export interface FinalFailure {
  id: string;
  queue: QueueName;
  env: Envelope;
  def: AnyJobDefinition | undefined;
  /** The error's message, scrubbed as the logs are. */
  message: string;
  /** Its stack (or message), scrubbed. */
  stack: string;
  startedAt: number;
  failedAt: number;
  worker: string;
}

export interface FailureListener {
  /** Named in the log line when it throws. */
  readonly name: string;
  failed(failure: FinalFailure): Promise<void>;
}

/**
 * The path of a job that will not run again (last attempt failed, or stalled too often): its listeners in order
 * (system.ts: index, failed store, the definition's failed() hook, batch, chain). Errors are logged, never thrown,
 * so one broken listener cannot keep a job looping or keep the next from running.
 */
export class FailureHandling {
  constructor(
    private readonly listeners: readonly FailureListener[],
    private readonly definitionOf: (name: string) => AnyJobDefinition | undefined,
    private readonly logger: Logger,
  ) {}

  async fail(
    id: string,
    queue: QueueName,
    env: Envelope,
    error: Error,
    f: { startedAt: number; worker: string },
  ): Promise<void> {
    // Scrubbed as the logs are: an error's text often carries what the handler had at hand (connection strings,
    // tokens in URLs), and it is kept in the index, failed_jobs and whatever the failed() hook stores.
    const message = scrubString(error.message || String(error));
    const failure: FinalFailure = {
      id,
      queue,
      env,
      def: this.definitionOf(env.name),
      message,
      stack: error.stack ? scrubString(error.stack) : message,
      startedAt: f.startedAt,
      failedAt: Date.now(),
      worker: f.worker,
    };
    for (const listener of this.listeners) {
      await listener
        .failed(failure)
        .catch((err: unknown) =>
          this.logger.error({ err, jobId: id, what: listener.name }, 'job failure handling failed'),
        );
    }
  }
}
