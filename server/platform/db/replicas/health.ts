import type { HealthCheck } from '../../health/health.ts';
import type { ReplicaSet } from './replica-set.ts';

/**
 * One readiness check per replica (numbered in DATABASE_REPLICA_URLS order), from the periodic check's state (no statement per probe): its lag in ms, `warn`
 * at the limit or when it is down. Never `fail`: the primary serves every read a replica cannot, so a node whose
 * replicas are all gone is still ready.
 */
export function replicaHealthChecks(replicas: ReplicaSet | undefined, maxLagMs: number): HealthCheck[] {
  if (!replicas) return [];
  return replicas.snapshot().map((initial, i) => ({
    // `component:measurement` as the other checks (the console names them so); which server is the componentId.
    key: `postgres-replica-${i + 1}:lag`,
    componentId: initial.name,
    componentType: 'datastore',
    onFailure: 'warn',
    thresholds: { warn: maxLagMs + 1, fail: Number.POSITIVE_INFINITY },
    run: () => {
      const state = replicas.snapshot()[i];
      if (!state || state.lagMs === undefined) {
        return Promise.reject(new Error(`out of rotation: ${state?.reason ?? 'unknown'}`));
      }
      return Promise.resolve({ value: state.lagMs, unit: 'ms' });
    },
  }));
}
