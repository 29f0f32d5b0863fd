import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

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
