import { context, propagation, SpanKind, SpanStatusCode, trace, type Context } from '@opentelemetry/api';

// Trace context that travels with work leaving the request: a job's payload, a webhook's processing. It works with
// whatever tracer provider is registered, and does nothing (cheaply) when tracing is off.

const tracer = () => trace.getTracer('keel');

/** The current trace context as W3C headers (`traceparent`, `tracestate`), for storing next to queued work. */
export function currentTraceCarrier(): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier;
}

export function currentTraceId(): string | undefined {
  const span = trace.getActiveSpan();
  const id = span?.spanContext().traceId;
  return id && id !== '00000000000000000000000000000000' ? id : undefined;
}

/** Runs fn in a span of the given kind; with a carrier, the span continues the trace it came from. */
export async function inSpan<T>(
  name: string,
  kind: 'producer' | 'consumer' | 'internal',
  carrier: Record<string, string> | undefined,
  fn: () => Promise<T>,
  attributes: Record<string, string | number | boolean> = {},
): Promise<T> {
  const parent: Context = carrier ? propagation.extract(context.active(), carrier) : context.active();
  const spanKind =
    kind === 'producer' ? SpanKind.PRODUCER : kind === 'consumer' ? SpanKind.CONSUMER : SpanKind.INTERNAL;
  return tracer().startActiveSpan(name, { kind: spanKind, attributes }, parent, async (span) => {
    try {
      return await fn();
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: err instanceof Error ? err.message : String(err),
      });
      throw err;
    } finally {
      span.end();
    }
  });
}
