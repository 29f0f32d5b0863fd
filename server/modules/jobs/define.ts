import type { JobServices } from '../../app-deps.ts';
import {
  defineCallback,
  jobDefiner,
  type CallbackDefinition,
  type CallbackHandler,
} from '../../platform/queue/definition.ts';

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
