import { z } from 'zod';
import {
  defineJob,
  type AnyJobDefinition,
  type CallbackDefinition,
  type CallbackEvent,
  type CallbackHandler,
} from './definition.ts';

/** The job that runs chain and batch callbacks: closures cannot be queued, so it looks them up by name. */
export const CALLBACK_JOB = 'keel.callback';

/** What a registry is built from: an application's one list of job and callback definitions. */
export type Definition = AnyJobDefinition | CallbackDefinition;

/**
 * Job names to definitions and callback names to handlers. A worker can only run what it has registered, and a
 * dispatcher refuses names it does not know, so producer and consumer agree on one list (modules/jobs/definitions.ts
 * for Keel's). Every registry also holds the `keel.callback` job that runs its callbacks.
 */
export class JobRegistry {
  private readonly jobs = new Map<string, AnyJobDefinition>();
  private readonly callbacks = new Map<string, CallbackHandler>();

  constructor(definitions: readonly Definition[] = []) {
    this.register(this.callbackJob());
    for (const def of definitions) {
      if (def.kind === 'keel.job') this.register(def);
      else this.callback(def.name, (event, ctx) => def.handle(event, ctx));
    }
  }

  register(...defs: AnyJobDefinition[]): this {
    for (const def of defs) {
      const existing = this.jobs.get(def.name);
      if (existing && existing !== def) throw new Error(`Job "${def.name}" is registered twice`);
      this.jobs.set(def.name, def);
    }
    return this;
  }

  callback(name: string, handler: CallbackHandler): this {
    if (this.callbacks.has(name)) throw new Error(`Callback "${name}" is registered twice`);
    this.callbacks.set(name, handler);
    return this;
  }

  get(name: string): AnyJobDefinition | undefined {
    return this.jobs.get(name);
  }

  getCallback(name: string): CallbackHandler | undefined {
    return this.callbacks.get(name);
  }

  hasCallback(name: string): boolean {
    return this.callbacks.has(name);
  }

  names(): string[] {
    return [...this.jobs.keys()];
  }

  private callbackJob() {
    return defineJob({
      name: CALLBACK_JOB,
      queue: 'high',
      tries: 3,
      backoff: [1_000, 5_000],
      payload: z.object({
        callback: z.string(),
        event: z.object({
          kind: z.enum(['then', 'catch', 'finally', 'chain-catch']),
          batchId: z.string().optional(),
          chainId: z.string().optional(),
          failedJob: z.object({ id: z.string(), name: z.string(), error: z.string() }).optional(),
        }),
      }),
      handle: async ({ callback, event }, ctx) => {
        const fn = this.getCallback(callback);
        if (!fn) throw new Error(`Unknown callback "${callback}"`);
        await fn(event as CallbackEvent, {
          em: ctx.em,
          logger: ctx.logger,
          organizationId: ctx.organizationId,
          services: ctx.services,
        });
      },
    });
  }
}
