import { randomUUID } from 'node:crypto';
import type { QueueName } from './definition.ts';

export interface ChainStep {
  name: string;
  payload: unknown;
  queue?: QueueName;
  delayMs?: number;
}

/** The rest of a chain travels with its current step, like Laravel's chained payloads. */
export interface ChainState {
  id: string;
  index: number;
  rest: ChainStep[];
  catch?: string;
}

/** What Keel stores as a bee-queue job's `data`. Counters live here because bee's `retries` counts down. */
export interface Envelope {
  v: 1;
  name: string;
  payload: unknown;
  org?: string;
  trace: string;
  tags?: string[];
  /** First dispatch (ms): retryUntil counts from here. */
  at: number;
  /** When the job last became available to run: wait time is measured from here. */
  qa: number;
  attempts: number;
  exceptions: number;
  /** Unique lock held for this job, released when it finishes. */
  unique?: string;
  batch?: string;
  chain?: ChainState;
  /** WAL position the job's reads need (its dispatcher's last write); absent: it reads the primary (ADR 0013). */
  rp?: string;
}

/** What a new envelope is made of; every field the envelope may carry besides its counters and times. */
export interface EnvelopeInput {
  name: string;
  /** As given (JSON-shaped): the worker parses it again, so transforms run where the handler is. */
  payload: unknown;
  org: string | null | undefined;
  trace: string;
  /** Due time of a delayed job (ms); its wait counts from then. */
  delayUntil: number | null;
  tags?: string[];
  unique?: string;
  batch?: string;
  chain?: ChainState;
}

/**
 * The one envelope builder: every job Keel queues (dispatch, dispatchMany, batch members, chain steps, callbacks)
 * starts here. A new optional field is one line below (and its declaration in `Envelope`); a value taken from the
 * dispatching request's context is read here too, as the trace is by the dispatcher.
 */
export function newEnvelope(input: EnvelopeInput, now = Date.now()): Envelope {
  return {
    v: 1,
    name: input.name,
    payload: input.payload,
    ...(input.org ? { org: input.org } : {}),
    trace: input.trace,
    ...(input.tags?.length ? { tags: input.tags } : {}),
    at: now,
    qa: input.delayUntil ?? now,
    attempts: 0,
    exceptions: 0,
    ...(input.unique ? { unique: input.unique } : {}),
    ...(input.batch ? { batch: input.batch } : {}),
    ...(input.chain ? { chain: input.chain } : {}),
  };
}

/** The envelope of a failed job queued again under its id: fresh counters, no unique lock. */
export function againEnvelope(env: Envelope, now = Date.now()): Envelope {
  const fresh: Envelope = { ...env, attempts: 0, exceptions: 0, qa: now, at: now };
  delete fresh.unique;
  return fresh;
}

// randomUUID draws from Node's cached entropy pool: much cheaper per call than randomBytes for ids made per job.
const hex32 = () => randomUUID().replaceAll('-', '');

/** A W3C traceparent: the caller's trace with a new span when it has one, otherwise a fresh trace. */
export function traceparentFor(parent: string | undefined): string {
  const m = parent?.match(/^00-([0-9a-f]{32})-[0-9a-f]{16}-([0-9a-f]{2})$/);
  const span = hex32().slice(0, 16);
  return m ? `00-${m[1]}-${span}-${m[2]}` : `00-${hex32()}-${span}-01`;
}

export const traceIdOf = (traceparent: string) => traceparent.split('-')[1] ?? '';
