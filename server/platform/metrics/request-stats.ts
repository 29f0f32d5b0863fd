import { AsyncLocalStorage } from 'node:async_hooks';
import { requestScoped } from '../async/detached.ts';

/** What one request (or job) has done so far, for the request log and the queries-per-request histogram. */
export interface RequestStats {
  queries: number;
  queryMs: number;
}

const store = requestScoped(new AsyncLocalStorage<RequestStats>());

export function runWithRequestStats<T>(stats: RequestStats, fn: () => T): T {
  return store.run(stats, fn);
}

export function currentRequestStats(): RequestStats | undefined {
  return store.getStore();
}
