import type { Redis } from 'ioredis';
import type { z } from 'zod';
import type { Config } from '../../config/env.ts';
import type { Em } from '../db/context.ts';
import type { Logger } from '../logger/logger.ts';

/** The queues every deployment has; each is a real bee-queue queue under `<KEY_PREFIX>bq:<name>:`. */
export const QUEUE_NAMES = ['high', 'default', 'low', 'mail', 'webhooks'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

export const isQueueName = (s: string): s is QueueName => (QUEUE_NAMES as readonly string[]).includes(s);

// The functions of a definition are declared as methods: TypeScript compares a method's parameters both ways, so a
// definition typed for its own payload and services still fits the registry's list of every definition.

export interface RateLimitPolicy<P> {
  /** Which bucket a job counts against; the job name when absent (one limit for the job type). */
  key?(payload: P): string;
  limit: number;
  perSeconds: number;
}

export interface OverlapPolicy<P> {
  key(payload: P): string;
  /** How long a job that finds the key taken waits before trying again. */
  releaseAfterMs?: number;
}

/**
 * What a handler gets besides its payload. `Svc` is the process's services as its composition root builds them
 * (modules/jobs/define.ts names Keel's): handlers take them from here instead of closing over a process's objects,
 * so every definition is a module-level constant that API processes and workers list alike.
 */
export interface JobContext<Svc = unknown> {
  id: string;
  name: string;
  queue: QueueName;
  /** 1 for the first run; releases and retries both count (Laravel's `attempts()`). */
  attempt: number;
  organizationId: string | undefined;
  /** W3C traceparent of the dispatching request, so a job's logs join its request's trace. */
  traceparent: string;
  batchId: string | undefined;
  /** Aborted when the timeout fires or the worker shuts down: stop work and return (or throw). */
  signal: AbortSignal;
  /** EntityManager fork scoped to the job's organization (tenant filter and RLS on), or unscoped for system jobs. */
  em: Em;
  logger: Logger;
  config: Config;
  redis: Redis;
  /** The services the queue system was given (QueueSystemOptions.services). */
  services: Svc;
  /** Put the job back on its queue after delayMs without counting an exception. */
  release(delayMs?: number): never;
  /**
   * Queue another job (by definition or registered name) for the same organization and trace, e.g. the email a
   * webhook leads to. Dispatch is not part of the job's database transaction: make the follow-up idempotent.
   */
  dispatch(
    job: AnyJobDefinition | string,
    payload: unknown,
    opts?: { delayMs?: number; organizationId?: string | null },
  ): Promise<unknown>;
}

export interface FailureInfo {
  id: string;
  name: string;
  queue: QueueName;
  organizationId: string | undefined;
  attempts: number;
  error: string;
}

export interface JobDefinitionInput<S extends z.ZodType, Svc = unknown> {
  name: string;
  payload: S;
  queue?: QueueName;
  /** Attempts in all, releases included (0 = unlimited, bounded by retryUntilMs). Default 3. */
  tries?: number;
  /** Delay before the next attempt in ms: one number, or one entry per retry (the last one repeats). */
  backoff?: number | readonly number[];
  /** The handler's AbortSignal fires after this many ms and the attempt counts as a failure. Default 60 s. */
  timeoutMs?: number;
  /** Fail once this many attempts threw, even with tries left (releases do not count). */
  maxExceptions?: number;
  /** Stop retrying this long after the first dispatch. */
  retryUntilMs?: number;
  /** A second dispatch with the same unique id while the first is pending (or for uniqueForMs) is a no-op. */
  uniqueId?(payload: z.output<S>): string;
  uniqueForMs?: number;
  withoutOverlapping?: OverlapPolicy<z.output<S>>;
  rateLimit?: RateLimitPolicy<z.output<S>>;
  tags?(payload: z.output<S>): string[];
  /**
   * Payload fields operators can search jobs by (ops.jobs.search, ADR 0026): names to plain values, e.g.
   * `(p) => ({ invoiceId: p.invoiceId })`. Each value is part of a Redis key name: ids and codes, not free text.
   */
  indexed?(payload: z.output<S>): Record<string, string | number | boolean | null | undefined>;
  /**
   * Payload fields (top-level names, or dotted paths into nested objects) redacted in the job index, every ops answer, the console and job log lines (ADR 0026);
   * the queue's own record and failed_jobs keep them, so the job can run and be retried.
   */
  sensitive?: readonly string[];
  /** Runs once, after the last attempt failed (or the job stalled too often). */
  failed?(
    payload: z.output<S>,
    failure: FailureInfo,
    ctx: { em: Em; logger: Logger; services: Svc },
  ): Promise<void> | void;
  handle(payload: z.output<S>, ctx: JobContext<Svc>): Promise<unknown> | unknown;
}

export interface JobDefinition<S extends z.ZodType = z.ZodType, Svc = unknown> extends JobDefinitionInput<
  S,
  Svc
> {
  queue: QueueName;
  tries: number;
  timeoutMs: number;
  /** Brand so dispatch() only accepts what defineJob() built. */
  readonly kind: 'keel.job';
}

export type AnyJobDefinition = JobDefinition<z.ZodType>;
export type PayloadOf<D> = D extends JobDefinition<infer S> ? z.input<S> : never;

const NAME = /^[a-z0-9][a-z0-9:._-]{0,119}$/i;
/** A payload field name as `sensitive` and `indexed` name them (also part of index key names). */
export const FIELD = /^[a-z_][a-z0-9_]{0,59}$/i;

export function defineJob<S extends z.ZodType, Svc = unknown>(
  input: JobDefinitionInput<S, Svc>,
): JobDefinition<S, Svc> {
  if (!NAME.test(input.name)) throw new Error(`Invalid job name "${input.name}"`);
  const tries = input.tries ?? 3;
  if (!Number.isInteger(tries) || tries < 0) throw new Error(`${input.name}: tries must be an integer ≥ 0`);
  const backoff = input.backoff;
  if (backoff !== undefined) {
    const list = typeof backoff === 'number' ? [backoff] : backoff;
    if (!list.length || list.some((d) => !Number.isFinite(d) || d < 0)) {
      throw new Error(`${input.name}: backoff must be a non-negative number or a non-empty array of them`);
    }
  }
  // rate-limiter-flexible keeps its window in whole seconds (a key's EX): 1.5 would become a window of 1 s, a higher
  // rate than asked, and anything under 1 a key that never expires.
  const rate = input.rateLimit;
  if (rate && !(isWholeAtLeastOne(rate.limit) && isWholeAtLeastOne(rate.perSeconds))) {
    throw new Error(`${input.name}: rateLimit needs a whole limit ≥ 1 per a whole number of seconds ≥ 1`);
  }
  if (tries === 0 && input.retryUntilMs === undefined && input.maxExceptions === undefined) {
    throw new Error(`${input.name}: unlimited tries need retryUntilMs or maxExceptions`);
  }
  if (input.sensitive?.some((f) => !f.split('.').every((part) => FIELD.test(part)))) {
    throw new Error(`${input.name}: sensitive fields are payload field names or dotted paths`);
  }
  return {
    ...input,
    queue: input.queue ?? 'default',
    tries,
    timeoutMs: input.timeoutMs ?? 60_000,
    kind: 'keel.job',
  };
}

const isWholeAtLeastOne = (n: number) => Number.isInteger(n) && n >= 1;

/**
 * `defineJob` for handlers that use the services `Svc` (a second type argument of `defineJob` itself would stop
 * TypeScript from inferring the payload's).
 */
export function jobDefiner<Svc>() {
  return <S extends z.ZodType>(input: JobDefinitionInput<S, Svc>): JobDefinition<S, Svc> => defineJob(input);
}

/** Delay before retry number `attempt` (1-based: the retry after the first attempt is 1). */
export function backoffDelay(backoff: number | readonly number[] | undefined, attempt: number): number {
  if (backoff === undefined) return 0;
  if (typeof backoff === 'number') return backoff;
  return backoff[Math.min(attempt, backoff.length) - 1] ?? 0;
}

/** What chain and batch callbacks receive. Closures cannot be queued, so callbacks are registered by name. */
export interface CallbackEvent {
  kind: 'then' | 'catch' | 'finally' | 'chain-catch';
  batchId?: string;
  chainId?: string;
  /** For catch callbacks: the job that failed and why. */
  failedJob?: { id: string; name: string; error: string };
}

export interface CallbackContext<Svc = unknown> {
  em: Em;
  logger: Logger;
  organizationId: string | undefined;
  services: Svc;
}

export type CallbackHandler<Svc = unknown> = (
  event: CallbackEvent,
  ctx: CallbackContext<Svc>,
) => Promise<void> | void;

/** A named chain or batch callback, listed with the job definitions (see JobRegistry). */
export interface CallbackDefinition<Svc = unknown> {
  name: string;
  handle(event: CallbackEvent, ctx: CallbackContext<Svc>): Promise<void> | void;
  readonly kind: 'keel.callback';
}

export function defineCallback<Svc = unknown>(
  name: string,
  handle: CallbackHandler<Svc>,
): CallbackDefinition<Svc> {
  return { name, handle, kind: 'keel.callback' };
}
