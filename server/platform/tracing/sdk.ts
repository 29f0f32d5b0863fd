import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { register } from 'node:module';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import {
  detectResources,
  envDetector,
  hostDetector,
  processDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import type { SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

export interface TracingOptions {
  serviceName: string;
  /** OTLP/HTTP endpoint (e.g. http://collector:4318); without it spans are created (trace ids in logs) but not sent. */
  otlpEndpoint?: string | undefined;
  /** Tests pass an in-memory exporter. */
  exporter?: SpanExporter;
  /**
   * Share of new traces recorded (0..1); a request continuing a caller's trace follows the caller's decision.
   * Unrecorded requests still get a trace id (in logs and jobs), at a fraction of the cost of a recorded one.
   */
  sampleRatio?: number;
}

/**
 * Query spans only in a recorded trace, and no connection-pool metrics. Once a traced request checks out a connection,
 * the stock instrumentation listens to the pool's acquire/release/connect/remove events and recomputes its
 * connection counts on each of them, for every request from then on, traced or not, to feed OpenTelemetry metrics
 * that Keel never exports (no meter provider: traces only). That was ~24 µs of a ~4 ms tenant query on the bench
 * machine, a sixth of all OpenTelemetry time at 10 % sampling. The method is private upstream (instrumentation-pg
 * 0.76); `pg-instrumentation.int.test.ts` fails when it stops being what adds those listeners.
 */
export function pgInstrumentation(): PgInstrumentation {
  const instrumentation = new PgInstrumentation({
    enhancedDatabaseReporting: false,
    requireParentSpan: true,
    ignoreConnectSpans: true,
  });
  Object.defineProperty(instrumentation, '_setPoolConnectEventListeners', { value: () => undefined });
  return instrumentation;
}

/**
 * The one tracer provider of the process (Sentry, when enabled, is set up to use it rather than its own). HTTP, pg and
 * ioredis are instrumented by patching, so this must start before those modules load: `server/instrument.ts`.
 *
 * Built from the tracer provider and the three instrumentations rather than `NodeSDK` (ADR 0060): NodeSDK imports
 * every exporter it can be configured for (gRPC, protobuf, Zipkin, Prometheus, OTLP metrics and logs): a server
 * kept ~30 MB more live heap for code Keel never runs, and its p99 under load rose with it.
 */
export function startTracing(opts: TracingOptions): NodeTracerProvider {
  const spanProcessors: SpanProcessor[] = [];
  if (opts.exporter) spanProcessors.push(new SimpleSpanProcessor(opts.exporter));
  if (opts.otlpEndpoint) {
    spanProcessors.push(
      new BatchSpanProcessor(
        new OTLPTraceExporter({ url: `${opts.otlpEndpoint.replace(/\/$/, '')}/v1/traces` }),
      ),
    );
  }
  // Without a processor spans are still created (trace ids in logs and jobs), just not sent anywhere.
  const provider = new NodeTracerProvider({
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(opts.sampleRatio ?? 1) }),
    // What NodeSDK detects by default: OTEL_RESOURCE_ATTRIBUTES, the process and the host.
    resource: detectResources({ detectors: [envDetector, processDetector, hostDetector] }).merge(
      resourceFromAttributes({ 'service.name': opts.serviceName }),
    ),
    spanProcessors,
  });
  // Async-local-storage context and the W3C trace-context and baggage propagators.
  provider.register();
  const instrumentations = [
    // Outgoing node:http calls only (the Stripe SDK's; OTLP export is excluded by the exporter itself; `fetch` is not
    // node:http and is not traced), and only inside a recorded trace: incoming requests get their span from Fastify (tracing/fastify.ts), and an unrecorded one has
    // no active span (tracing/propagation.ts) that a call could otherwise turn into a root trace of its own.
    new HttpInstrumentation({
      disableIncomingRequestInstrumentation: true,
      requireParentforOutgoingSpans: true,
    }),
    // Only work in a recorded trace (a request, a job): pool connects and background queries (metric flushes, the
    // stall checker, heartbeats) would be traces of one span each, and unrecorded work would pay for spans that
    // are dropped.
    pgInstrumentation(),
    new IORedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: (cmd) => cmd }),
  ];
  // ES-module imports of these packages (Keel imports ioredis that way) reach the instrumentations only through
  // import-in-the-middle's loader hook. Left without a list it wraps every ES module of the process, Keel's own and
  // MikroORM's included, in a re-exporting module: ~16 MB more live heap, and slower (ADR 0060).
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, {
    data: { include: instrumentations.flatMap((i) => i.getModuleDefinitions().map((d) => d.name)) },
  });
  registerInstrumentations({ tracerProvider: provider, instrumentations });
  return provider;
}
