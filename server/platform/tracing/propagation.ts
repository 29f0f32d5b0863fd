import {
  context,
  createContextKey,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
  type SpanContext,
} from '@opentelemetry/api';

// Trace context that travels with work leaving the request: a job's payload, a webhook's processing. It works with
// whatever tracer provider is registered, and does nothing (cheaply) when tracing is off.

const tracer = () => trace.getTracer('keel');

/**
 * Where the ids of a span that records nothing (a trace the sampler left out) are kept instead of the active-span
 * slot. With no active span, the pg, ioredis and outgoing-http instrumentations (all `requireParent…`) skip their
 * work entirely instead of building attributes, parsing statements and wrapping callbacks for spans that are
 * dropped (ADR 0060). Keel's own readers (logs, job carriers, `inSpan`) look here too, so an
 * unrecorded request still has its trace id in its log lines and hands its trace (flagged unsampled) to its jobs.
 */
const UNRECORDED = createContextKey('keel.unrecorded-span-context');

/** The context for work under `span`: the active span when it records, otherwise only its ids (see UNRECORDED). */
export function contextWithSpan(parent: Context, span: Span): Context {
  return span.isRecording()
    ? trace.setSpan(parent.deleteValue(UNRECORDED), span)
    : trace.deleteSpan(parent).setValue(UNRECORDED, span.spanContext());
}

/** The ids of the context's span, recorded or not. */
function spanContextOf(ctx: Context): SpanContext | undefined {
  return trace.getSpanContext(ctx) ?? (ctx.getValue(UNRECORDED) as SpanContext | undefined);
}

/** The context with its trace where OpenTelemetry's propagators and samplers look for it. */
function withTraceVisible(ctx: Context): Context {
  const ids = spanContextOf(ctx);
  return ids && !trace.getSpan(ctx) ? trace.setSpanContext(ctx, ids) : ctx;
}

/** The current trace context as W3C headers (`traceparent`, `tracestate`), for storing next to queued work. */
export function currentTraceCarrier(): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(withTraceVisible(context.active()), carrier);
  return carrier;
}

export function currentTraceId(): string | undefined {
  const id = spanContextOf(context.active())?.traceId;
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
  const active = context.active();
  const parent: Context = carrier ? propagation.extract(active, carrier) : withTraceVisible(active);
  const spanKind =
    kind === 'producer' ? SpanKind.PRODUCER : kind === 'consumer' ? SpanKind.CONSUMER : SpanKind.INTERNAL;
  const span = tracer().startSpan(name, { kind: spanKind, attributes }, parent);
  return context.with(contextWithSpan(parent, span), async () => {
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
