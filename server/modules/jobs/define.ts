import type { z } from 'zod';
import type { JobServices } from '../../app-deps.ts';
import {
  defineCallback,
  jobDefiner,
  type CallbackDefinition,
  type CallbackHandler,
  type JobDefinitionInput,
} from '../../platform/queue/definition.ts';
import {
  claimDebouncedRun,
  debounceKey,
  debouncedPayload,
  finishDebouncedRun,
  type DebouncedJob,
  type DebouncedPayload,
  type DebounceOptions,
} from './debounce.ts';

/**
 * `defineJob` for Keel's modules: the handler and its `failed()` hook get the process's services as `ctx.services`,
 * which deps.ts (the composition root) hands to the queue system. A module that needs no service uses `defineJob`.
 */
export const defineAppJob = jobDefiner<JobServices>();

/** A chain or batch callback with the process's services as `ctx.services`. */
export function defineAppCallback(
  name: string,
  handle: CallbackHandler<JobServices>,
): CallbackDefinition<JobServices> {
  return defineCallback(name, handle);
}

/** What `defineDebouncedJob` takes: a job's definition (unique ids aside: debouncing is the uniqueness) and its window. */
export interface DebouncedJobInput<S extends z.ZodType> extends Omit<
  JobDefinitionInput<S, JobServices>,
  'uniqueId' | 'uniqueForMs'
> {
  debounce: DebounceOptions<z.output<S>>;
}

/**
 * A job that runs once, `debounce.windowMs` after the last of a burst of dispatches with the same key (per
 * organization), with that dispatch's payload. Dispatch it with `dispatchDebounced` (modules/jobs/debounce.ts) and
 * list its `definition` in definitions.ts. The check happens here, around the handler: a job superseded by a later
 * dispatch completes with `{ superseded: true }` and its handler never runs. The policies and hooks of `input` see
 * the caller's payload, as for any job.
 */
export function defineDebouncedJob<S extends z.ZodType>(
  input: DebouncedJobInput<S>,
): DebouncedJob<S, JobServices> {
  const {
    debounce,
    payload,
    handle,
    failed,
    tags,
    indexed,
    sensitive,
    withoutOverlapping,
    rateLimit,
    ...rest
  } = input;
  // The caller's payload, parsed by its schema here as the queue parses every job's payload where it runs.
  const inner = (w: z.output<DebouncedPayload>): z.output<S> => payload.parse(w.payload);
  const rateKey = rateLimit?.key;
  const definition = defineAppJob<DebouncedPayload>({
    ...rest,
    payload: debouncedPayload,
    ...(tags ? { tags: (w) => tags(inner(w)) } : {}),
    ...(indexed ? { indexed: (w) => indexed(inner(w)) } : {}),
    // The caller's payload travels under `payload` in the debounced envelope.
    ...(sensitive ? { sensitive: sensitive.map((f) => `payload.${f}`) } : {}),
    ...(withoutOverlapping
      ? { withoutOverlapping: { ...withoutOverlapping, key: (w) => withoutOverlapping.key(inner(w)) } }
      : {}),
    ...(rateLimit
      ? {
          rateLimit: {
            limit: rateLimit.limit,
            perSeconds: rateLimit.perSeconds,
            ...(rateKey ? { key: (w) => rateKey(inner(w)) } : {}),
          },
        }
      : {}),
    ...(failed ? { failed: (w, failure, ctx) => failed(inner(w), failure, ctx) } : {}),
    async handle(w, ctx) {
      const key = debounceKey(ctx.config.keyPrefix, input.name, ctx.organizationId, w.debounce.key);
      if (!(await claimDebouncedRun(ctx.redis, key, w.debounce.token))) return { superseded: true };
      const result: unknown = await handle(inner(w), ctx);
      await finishDebouncedRun(ctx.redis, key, w.debounce.token);
      return result;
    },
  });
  return { kind: 'keel.debounced', name: input.name, payload, debounce, definition };
}
