import type { AnyJobDefinition, CallbackHandler, JobDefinition } from './definition.ts';
import type { z } from 'zod';

/**
 * Job names to definitions and callback names to handlers. A worker can only run what it has registered, and a
 * dispatcher refuses names it does not know, so producer and consumer agree on one list (see modules/jobs).
 */
export class JobRegistry {
  private readonly jobs = new Map<string, AnyJobDefinition>();
  private readonly callbacks = new Map<string, CallbackHandler>();

  register<S extends z.ZodType>(...defs: JobDefinition<S>[]): this {
    for (const def of defs) {
      const existing = this.jobs.get(def.name);
      if (existing && existing !== (def as unknown as AnyJobDefinition)) {
        throw new Error(`Job "${def.name}" is registered twice`);
      }
      this.jobs.set(def.name, def as unknown as AnyJobDefinition);
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
}
