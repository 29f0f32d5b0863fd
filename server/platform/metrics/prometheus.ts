import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface ReplicaGaugeState {
  name: string;
  healthy: boolean;
  lagMs: number | undefined;
}

const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * This process's Prometheus metrics. Labels are bounded on purpose: routes and procedures by their template or
 * name, never a raw path, tenant or user (those go to the console's top lists, which are bounded sorted sets).
 */
export class PrometheusMetrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by method, route (template or tRPC procedure) and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });
  readonly dbQueriesPerRequest = new Histogram({
    name: 'db_queries_per_request',
    help: 'Database queries issued while serving one request',
    labelNames: ['route'] as const,
    buckets: [0, 1, 2, 3, 5, 10, 20, 50, 100],
    registers: [this.registry],
  });
  readonly dbQueryDuration = new Histogram({
    name: 'db_query_duration_seconds',
    help: 'Database query duration by statement kind',
    labelNames: ['kind'] as const,
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });
  readonly cacheRequests = new Counter({
    name: 'cache_requests_total',
    help: 'Cache lookups by layer (l1, l2) and result (hit, miss, error)',
    labelNames: ['layer', 'result'] as const,
    registers: [this.registry],
  });
  readonly wsConnections = new Gauge({
    name: 'websocket_connections',
    help: 'Open WebSocket connections',
    registers: [this.registry],
  });
  readonly wsSubscriptions = new Gauge({
    name: 'websocket_subscriptions',
    help: 'Active tRPC subscriptions',
    registers: [this.registry],
  });

  /** The read replicas' state at their last check, when this process has replicas (Observability.trackReplicas). */
  replicaStates: (() => readonly ReplicaGaugeState[]) | undefined;
  readonly dbReplicaLag = new Gauge({
    name: 'db_replica_lag_seconds',
    help: 'Replay lag of each PostgreSQL read replica at its last check (absent while it is down)',
    labelNames: ['replica'] as const,
    registers: [this.registry],
    // Read when /metrics is scraped, so it shows the state of that moment.
    collect: () => this.collectReplicas(),
  });
  readonly dbReplicaUp = new Gauge({
    name: 'db_replica_in_rotation',
    help: '1 while a PostgreSQL read replica serves reads, 0 while it is down or lags over the limit',
    labelNames: ['replica'] as const,
    registers: [this.registry],
  });

  private collectReplicas(): void {
    if (!this.replicaStates) return;
    this.dbReplicaLag.reset();
    for (const s of this.replicaStates()) {
      this.dbReplicaUp.set({ replica: s.name }, s.healthy ? 1 : 0);
      if (s.lagMs !== undefined) this.dbReplicaLag.set({ replica: s.name }, s.lagMs / 1000);
    }
  }

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  exposition(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
