import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import type { SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import {
  BatchSpanProcessor,
  NoopSpanProcessor,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';

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
 * The one tracer provider of the process (Sentry, when enabled, is set up to use it rather than its own). HTTP, pg and
 * ioredis are instrumented by patching, so this must start before those modules load: `server/instrument.ts`.
 */
export function startTracing(opts: TracingOptions): NodeSDK {
  const processors: SpanProcessor[] = [];
  if (opts.exporter) processors.push(new SimpleSpanProcessor(opts.exporter));
  if (opts.otlpEndpoint) {
    processors.push(
      new BatchSpanProcessor(
        new OTLPTraceExporter({ url: `${opts.otlpEndpoint.replace(/\/$/, '')}/v1/traces` }),
      ),
    );
  }
  // NodeSDK registers no tracer provider without a processor; a provider is wanted even with nowhere to export,
  // so that spans (and the trace ids in logs and jobs) exist.
  if (!processors.length) processors.push(new NoopSpanProcessor());
  const sdk = new NodeSDK({
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(opts.sampleRatio ?? 1) }),
    resource: resourceFromAttributes({ 'service.name': opts.serviceName }),
    spanProcessors: processors,
    // Traces only. Left unset, NodeSDK also starts an OTLP metrics exporter and an OTLP logs exporter (to
    // localhost:4318 when no endpoint is set), and every instrumented call records histograms nobody reads: Keel's
    // metrics are Prometheus and its logs are pino's.
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [
      // Outgoing calls only (Stripe, alert channels, OTLP is excluded by the exporter itself), and only inside a
      // recorded trace: incoming requests get their span from Fastify (tracing/fastify.ts), and an unrecorded one has
      // no active span (tracing/propagation.ts) that a call could otherwise turn into a root trace of its own.
      new HttpInstrumentation({
        disableIncomingRequestInstrumentation: true,
        requireParentforOutgoingSpans: true,
      }),
      // Only work in a recorded trace (a request, a job): pool connects and background queries (metric flushes, the
      // stall checker, heartbeats) would be traces of one span each, and unrecorded work would pay for spans that
      // are dropped.
      new PgInstrumentation({
        enhancedDatabaseReporting: false,
        requireParentSpan: true,
        ignoreConnectSpans: true,
      }),
      new IORedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: (cmd) => cmd }),
    ],
  });
  sdk.start();
  return sdk;
}
