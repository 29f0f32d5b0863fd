import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { AppError } from '../../../shared/errors.ts';
import { currentOrganizationId } from '../../platform/db/context.ts';
import type { JobDefinition } from '../../platform/queue/definition.ts';
import type { DispatchResult, QueueSystem } from '../../platform/queue/system.ts';

// Debounced jobs, built on the queue's public API (a delayed dispatch) and one Redis key per debounce key:
//
// - dispatch: `SET <key> <token> PX` (the latest dispatch's token wins), then a job carrying the token, delayed by
//   the window;
// - run: a script turns `<token>` into `run:<token>` and lets the job run; any other value means a later dispatch
//   (whose own job runs a window after it) or a run already done: the job completes as superseded, without its
//   handler. A retry of the running job finds `run:<token>` and runs again; a success deletes the key.
//
// So each quiet window ends in exactly one run, a window after the last dispatch, with the last dispatch's payload.
// The key is per job name, organization and debounce key, so tenants never debounce each other.

/** How long a debounce key outlives its window: a delayed job late by more than this (workers down a day) is dropped. */
const KEEP_MS = 24 * 3_600_000;

const CLAIM = `local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('SET', KEYS[1], 'run:' .. ARGV[1], 'PX', ARGV[2]) return 1 end
if v == 'run:' .. ARGV[1] then return 1 end
return 0`;
const DONE = `if redis.call('GET', KEYS[1]) == 'run:' .. ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * What a debounced job's queue payload holds: the caller's payload (checked by its own schema at dispatch, and
 * parsed by it again where the handler runs, as every job's payload is) and the dispatch's token.
 */
export const debouncedPayload = z
  .object({
    payload: z.unknown(),
    debounce: z.object({ key: z.string().min(1).max(200), token: z.uuid() }).strict(),
  })
  .strict();
export type DebouncedPayload = typeof debouncedPayload;

export interface DebounceOptions<P> {
  /** Dispatches with the same key (within one organization) collapse into one run. */
  key(payload: P): string;
  /** The run happens this long after the last dispatch. */
  windowMs: number;
}

export interface DebouncedJob<S extends z.ZodType = z.ZodType, Svc = unknown> {
  readonly kind: 'keel.debounced';
  name: string;
  /** The caller's payload schema (the queued job's schema wraps it). */
  payload: S;
  debounce: DebounceOptions<z.output<S>>;
  /** The queued job: list it in modules/jobs/definitions.ts like any other. */
  definition: JobDefinition<DebouncedPayload, Svc>;
}

export const debounceKey = (
  keyPrefix: string,
  job: string,
  organizationId: string | null | undefined,
  key: string,
) => `${keyPrefix}q:debounce:${job}:${organizationId ?? '-'}:${key}`;

/** At run time: true when this job's token is the latest (or its own run is being retried). */
export async function claimDebouncedRun(redis: Redis, key: string, token: string): Promise<boolean> {
  return (await redis.eval(CLAIM, 1, key, token, KEEP_MS)) === 1;
}

/** After a successful run: the key goes, unless a dispatch came meanwhile (its job will run). */
export async function finishDebouncedRun(redis: Redis, key: string, token: string): Promise<void> {
  await redis.eval(DONE, 1, key, token);
}

/**
 * Dispatches a debounced job: it runs `windowMs` after the last dispatch with the same key in the same
 * organization (the current tenant scope's unless `organizationId` is given; null for a system job). Every
 * dispatch queues a delayed job; all but the last complete as superseded. The payload is checked before the token
 * is written, so a refused dispatch does not supersede a good one.
 */
export async function dispatchDebounced<S extends z.ZodType, Svc>(
  s: {
    queue: Pick<QueueSystem, 'dispatch'>;
    redis: Redis;
    config: { keyPrefix: string };
  },
  job: DebouncedJob<S, Svc>,
  payload: z.input<S>,
  opts: { organizationId?: string | null; windowMs?: number } = {},
): Promise<DispatchResult> {
  const parsed = job.payload.safeParse(payload);
  if (!parsed.success) {
    const fieldErrors: Record<string, string[]> = {};
    for (const issue of parsed.error.issues) {
      (fieldErrors[issue.path.map(String).join('.') || '_'] ??= []).push(issue.message);
    }
    throw new AppError('VALIDATION_FAILED', `Invalid payload for job "${job.name}"`, { fieldErrors });
  }
  const windowMs = opts.windowMs ?? job.debounce.windowMs;
  if (!Number.isFinite(windowMs) || windowMs < 0)
    throw new AppError('VALIDATION_FAILED', 'windowMs must be ≥ 0');
  const organizationId =
    opts.organizationId !== undefined ? opts.organizationId : (currentOrganizationId() ?? null);
  const key = job.debounce.key(parsed.data);
  const token = randomUUID();
  await s.redis.set(
    debounceKey(s.config.keyPrefix, job.name, organizationId, key),
    token,
    'PX',
    windowMs + KEEP_MS,
  );
  return s.queue.dispatch(
    job.definition,
    { payload, debounce: { key, token } },
    { organizationId, delayMs: windowMs },
  );
}
