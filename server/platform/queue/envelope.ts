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

// randomUUID draws from Node's cached entropy pool: much cheaper per call than randomBytes for ids made per job.
const hex32 = () => randomUUID().replaceAll('-', '');

/** A W3C traceparent: the caller's trace with a new span when it has one, otherwise a fresh trace. */
export function traceparentFor(parent: string | undefined): string {
  const m = parent?.match(/^00-([0-9a-f]{32})-[0-9a-f]{16}-([0-9a-f]{2})$/);
  const span = hex32().slice(0, 16);
  return m ? `00-${m[1]}-${span}-${m[2]}` : `00-${hex32()}-${span}-01`;
}

export const traceIdOf = (traceparent: string) => traceparent.split('-')[1] ?? '';
