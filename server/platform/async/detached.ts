import type { AsyncLocalStorage } from 'node:async_hooks';
import { context, ROOT_CONTEXT } from '@opentelemetry/api';

// Timers, intervals and event listeners keep the async context they were created in: one started lazily while a
// request is served runs every later tick inside that request's scope — its tenant's database scope (and RLS role),
// its log bindings, its trace. Work that outlives the request starts through runDetached instead.

const requestStores: AsyncLocalStorage<unknown>[] = [];

/** Declares a store that holds per-request (or per-job) state, so that runDetached leaves it. */
export function requestScoped<T>(store: AsyncLocalStorage<T>): AsyncLocalStorage<T> {
  requestStores.push(store as AsyncLocalStorage<unknown>);
  return store;
}

/**
 * Runs fn outside every request-scoped store and the active trace: whatever fn starts (a timer, an interval, a
 * connection and its listeners) sees no request, however it was reached.
 */
export function runDetached<T>(fn: () => T): T {
  let run = (): T => context.with(ROOT_CONTEXT, fn);
  for (const store of requestStores) {
    const inner = run;
    run = () => store.exit(inner);
  }
  return run();
}
